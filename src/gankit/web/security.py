"""What keeps a login-free app on 127.0.0.1 safe from other web pages and odd requests.

Owns: the Host-header check (against DNS rebinding: a foreign site's name
resolving to 127.0.0.1 must not reach the app), the cross-site check on
state-changing requests (``Origin`` / ``Sec-Fetch-Site``), the size of request
bodies and how long one may take to arrive, the CSRF token of form posts (an
HMAC of a per-browser cookie), reading small form bodies, the shape of ids
that come in URLs, and confining file reads to a folder.

Bodies: a declared ``Content-Length`` over ``MAX_BODY_BYTES`` is refused
(413) before a byte of the body is read, on every route; a chunked body is
counted as it arrives and refused as soon as it passes the limit, so neither
is ever held whole in memory. A body that stalls for ``BODY_STALL_S`` is
answered 408, so a client that never finishes one frees its request slot.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gankit.web.errors import BadRequest, Forbidden, NotFound, TooLarge, UnsupportedMediaType
from gankit.web.params import MAX_ID_CHARS

CLIENT_COOKIE = "gankit_client"
MAX_BODY_BYTES = 64 * 1024  # no request this app understands is anywhere near this
BODY_STALL_S = 10.0  # longest wait for the next piece of a request body
TOO_LARGE = f"request body too large (at most {MAX_BODY_BYTES} bytes) - send less"
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("", "0.0.0.0", "::")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_ID = re.compile(rf"^[A-Za-z0-9_-][A-Za-z0-9_.-]{{0,{MAX_ID_CHARS - 1}}}$")


def allowed_hosts(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names (without port) the app answers to when bound to ``host``.

    Bound to a wildcard address, the app answers to this machine's names and addresses.
    """
    names = {host.strip("[]").lower(), *LOCAL_NAMES, *(h.lower() for h in extra)}
    if host in WILDCARDS:
        names.discard(host)
        try:
            hostname, aliases, addresses = socket.gethostbyname_ex(socket.gethostname())
            names.update(n.lower() for n in (hostname, socket.getfqdn(), *aliases, *addresses))
        except OSError:  # no resolvable name: the local names are still fine
            pass
    return frozenset(names)


def host_name(header: str) -> str:
    """'Example.org:8000' -> 'example.org'; '[::1]:8000' -> '::1'."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


class RequestGuard:
    """ASGI middleware: wrong Host -> 400; a declared body over ``MAX_BODY_BYTES`` -> 413;
    cross-site state-changing request -> 403; more than ``max_active`` requests in progress
    -> 503 at once (JSON, Retry-After); a body too large or stalled as it arrives ->
    413/408 (``GuardedBody``).

    Requests without ``Origin`` and ``Sec-Fetch-Site`` (scripts, curl) pass the cross-site
    check; browsers send at least one of them with every POST, and form posts need them
    anyway (``require_same_origin``).
    """

    def __init__(self, app, hosts: frozenset[str], max_active: int = 256):
        self.app, self.hosts, self.max_active = app, hosts, max_active
        self.active = 0  # only touched on the event loop's thread: no lock needed

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self._problem(scope["method"], headers)
        if problem is None and self.active >= self.max_active:
            problem = 503, f"the server is busy ({self.active} requests in progress) - try again"
        if problem is not None:
            status, detail = problem
            retry = {"Retry-After": "1"} if status == 503 else None
            response = JSONResponse({"detail": detail}, status_code=status, headers=retry)
            return await response(scope, receive, send)
        self.active += 1
        try:
            return await self.app(scope, GuardedBody(receive), send)
        finally:
            self.active -= 1

    def _problem(self, method: str, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if host_name(host) not in self.hosts:
            return 400, f"unexpected Host header {host[:100]!r} - open the app by its own address"
        # Every method: a GET may carry a body too, and this is decided before reading any.
        length = headers.get("content-length", "0")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return 413, TOO_LARGE
        if method in SAFE_METHODS:
            return None
        if cross_site(headers):
            return 403, "cross-site request refused - use the app's own pages"
        return None


class GuardedBody:
    """An ASGI ``receive`` that counts the request body as it arrives: past ``max_bytes`` it
    is refused (413) and the rest never read, chunked bodies included; a body that stalls
    for ``stall_s`` is given up (408).

    Both are raised as ``HTTPException``: FastAPI passes that on from body parsing as it is
    (any other error there becomes a 400) and answers it with its status and detail. Once
    the body is complete, calls pass straight through: streaming responses wait on
    ``receive`` for a disconnect as long as they need.
    """

    def __init__(self, receive, max_bytes: int = MAX_BODY_BYTES, stall_s: float = BODY_STALL_S):
        self.receive, self.max_bytes, self.stall_s = receive, max_bytes, stall_s
        self.received, self.complete = 0, False

    async def __call__(self):
        if self.complete:
            return await self.receive()
        try:
            message = await asyncio.wait_for(self.receive(), self.stall_s)
        except TimeoutError:
            raise HTTPException(
                408, f"the request body stalled for {self.stall_s:g} s - send it in one go"
            ) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                raise HTTPException(413, TOO_LARGE)
        self.complete = message["type"] != "http.request" or not message.get("more_body")
        return message


class SecurityHeaders:
    """ASGI middleware: headers every response gets (no MIME sniffing, no framing elsewhere)."""

    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        (b"x-frame-options", b"SAMEORIGIN"),  # the run page frames its own report
    )

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def cross_site(headers: dict[str, str]) -> bool:
    """True when the browser says the request comes from another site (or another port)."""
    origin = headers.get("origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc != headers.get("host")):
        return True
    # "same-site" includes other ports of localhost, i.e. any other local app.
    return headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")


def require_same_origin(request: Request) -> None:
    """Form posts must prove they come from our pages: Origin or Sec-Fetch-Site must be present."""
    headers = request.headers
    if "origin" not in headers and "sec-fetch-site" not in headers:
        raise Forbidden(
            "form posts need an Origin or Sec-Fetch-Site header (send it from a browser)"
        )
    if cross_site(dict(headers)):
        raise Forbidden("cross-site request refused - use the app's own pages")


class Csrf:
    """Tokens for form posts: HMAC(secret, this browser's client cookie)."""

    def __init__(self, secret: bytes | None = None):
        self._secret = secret or secrets.token_bytes(32)

    def client(self, request: Request) -> tuple[str, bool]:
        """(this browser's client id, whether it is new and must be set as a cookie)."""
        value = request.cookies.get(CLIENT_COOKIE, "")
        if re.fullmatch(r"[A-Za-z0-9_-]{22,64}", value):
            return value, False
        return secrets.token_urlsafe(18), True

    def token(self, client: str) -> str:
        return hmac.new(self._secret, client.encode(), hashlib.sha256).hexdigest()[:40]

    def check(self, request: Request, token: str) -> str:
        """The client id when ``token`` belongs to the request's cookie, else 403."""
        client = request.cookies.get(CLIENT_COOKIE, "")
        if not client:
            raise Forbidden("no session cookie - reload the page (cookies must be enabled)")
        if not hmac.compare_digest(self.token(client), token or ""):
            raise Forbidden("the form's security token is missing or stale - reload the page")
        return client


def set_client_cookie(response, client: str) -> None:
    # SameSite=Strict: other sites' pages never send it, a second line behind the token.
    response.set_cookie(CLIENT_COOKIE, client, httponly=True, samesite="strict", path="/")


def require_json(request: Request) -> None:
    """JSON posts must say so: a page elsewhere cannot send that type without asking first (CORS)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise UnsupportedMediaType("send the body as JSON (Content-Type: application/json)")


async def read_form(request: Request) -> dict[str, list[str]]:
    """A small url-encoded form body as {name: [values]} (no multipart, no files)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadRequest("expected a form post (application/x-www-form-urlencoded)")
    body = b""
    async for chunk in request.stream():  # counted, since a chunked body has no length
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise TooLarge(f"form too large (at most {MAX_BODY_BYTES} bytes)")
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form could not be read (not UTF-8 url-encoded)") from None


def check_id(value: str, what: str) -> str:
    """An id taken from a URL: letters, digits, '-', '_', '.', never '..' nor a slash."""
    if not _ID.fullmatch(value) or ".." in value:
        raise NotFound(f"no {what} {value[:80]!r} (ids are letters, digits, '-', '_' and '.')")
    return value


def inside(root: Path, path: Path) -> Path:
    """``path`` resolved, when it is an existing file inside ``root`` (symlinks included)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
        raise NotFound(f"no such file: {path.name}")
    return resolved
