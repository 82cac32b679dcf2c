"""The web app: generate by label, browse runs, and the human "which two are generated?" test.

``create_app(paths)`` builds the FastAPI app that ``gankit serve`` runs under
uvicorn. Modules: ``catalog`` (runs served and their files), ``models``
(generator cache and the bounded generation pool), ``quiz`` (the human test's
rules: drawing questions, scoring answers, the error rate and its interval),
``quiz_store`` (the SQLite answers store), ``security`` (Host, cross-site and
CSRF checks, path safety), ``params`` (request limits and parameter types),
``services`` (what routes share), ``errors`` (HTTP statuses of user errors),
and two views over them: ``schemas`` + ``api`` (the JSON/PNG API) and
``pages`` + ``quiz_pages`` (server-rendered HTML); neither view imports the
other. The web layer reads run folders only and holds no model maths.
"""

from gankit.web.app import create_app

__all__ = ["create_app"]
