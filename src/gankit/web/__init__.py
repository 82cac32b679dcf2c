"""The web app: generate by label, browse runs, and the human "which two are generated?" test.

``create_app(paths)`` builds the FastAPI app that ``gankit serve`` runs under
uvicorn. Modules: ``catalog`` (runs served and their files), ``models``
(generator cache and the bounded generation pool), ``quiz`` (the SQLite answers
store and its statistic), ``security`` (Host, cross-site and CSRF checks, path
safety), ``services`` (what routes share), ``errors`` (HTTP statuses of user
errors), ``schemas`` + ``api`` (the JSON/PNG API), ``pages`` + ``quiz_pages``
(server-rendered HTML). The web layer reads run folders only and holds no
model maths.
"""

from gankit.web.app import create_app

__all__ = ["create_app"]
