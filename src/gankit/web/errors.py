"""User errors of the web app, each carrying the HTTP status it is answered with.

They are ``GankitError``s, so the library's own one-line messages and these
travel the same way: the app turns any ``GankitError`` into a JSON
``{"detail": message}`` with ``status`` (400 for the library's own errors).
"""

from __future__ import annotations

from gankit.errors import GankitError


class BadRequest(GankitError):
    status = 400


class Forbidden(GankitError):
    status = 403


class NotFound(GankitError):
    status = 404


class Conflict(GankitError):
    status = 409


class TooLarge(GankitError):
    status = 413


class UnsupportedMediaType(GankitError):
    status = 415


class Unprocessable(GankitError):
    status = 422


class Unavailable(GankitError):
    """The server cannot do this just now (a store locked or read-only): answered 503 with
    ``Retry-After: retry_after_s``; the client should try again, nothing was changed."""

    status = 503
    retry_after_s = 1


class Busy(Unavailable):
    """Every generation slot is taken: the client should try again shortly."""
