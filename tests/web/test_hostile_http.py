"""A real ``gankit serve`` under hostile HTTP: huge bodies, slow clients, a flood of generate
requests; and the pieces that make it hold (the body deadline, the engine's bounds)."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.exceptions import HTTPException

from gankit.web.security import MAX_BODY_BYTES, GuardedBody
from tests.web.support import get_request, raw_requests, serve_process, tiny_runs

HUGE = 10 * 1024 * 1024  # 10 MB, some 160 times the limit
PIECE = b"a" * 65536


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tiny_runs(tmp_path_factory)
    with serve_process(runs, tmp_path_factory.mktemp("hostile") / "q.sqlite") as (proc, base):
        yield proc, base


def _address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname, parts.port


def _head(base: str, method: str, path: str, kind: str, chunked: bool) -> bytes:
    host = base.removeprefix("http://")
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {HUGE}"
    return (
        f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nOrigin: {base}\r\n"
        f"Content-Type: {kind}\r\n{length}\r\nConnection: close\r\n\r\n"
    ).encode()


def _status(sock: socket.socket) -> int:
    sock.setblocking(True)
    sock.settimeout(10)
    data = b""
    while b"\r\n" not in data:
        more = sock.recv(4096)
        assert more, f"the connection closed without an answer: {data!r}"
        data += more
    return int(data.split(b" ", 2)[1])


def send_huge(base: str, head: bytes, chunked: bool) -> tuple[int, int, float]:
    """Sends ``head``, then up to 10 MB of body in 64 KiB pieces until the server answers.

    Returns (status, body bytes sent, seconds to the answer). The client stops sending as
    soon as an answer can be read, as a browser does, so the answer is never lost to a
    reset of a connection still full of unread body.
    """
    start = time.monotonic()
    with socket.create_connection(_address(base), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        sent, pending = 0, b""
        while sent < HUGE:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable or not writable:
                break
            if not pending:
                pending = (b"10000\r\n" + PIECE + b"\r\n") if chunked else PIECE
            try:
                count = sock.send(pending)
            except (BrokenPipeError, ConnectionResetError):
                break
            pending, sent = pending[count:], sent + count
        if chunked and sent >= HUGE:
            sock.sendall(b"0\r\n\r\n")
        return _status(sock), sent, time.monotonic() - start


BODIES = [
    ("POST", "/api/quiz/sessions", "application/json"),
    ("POST", "/quiz/start", "application/x-www-form-urlencoded"),
    ("GET", "/api/runs", "application/json"),
]


@pytest.mark.slow  # a real server process
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("method", "path", "kind"), BODIES, ids=["json", "form", "get"])
def test_a_10_mb_body_is_refused_quickly_and_the_server_stays_up(
    server, method, path, kind, chunked
):
    proc, base = server
    status, sent, seconds = send_huge(base, _head(base, method, path, kind, chunked), chunked)
    if method == "GET" and chunked:
        # A GET route never reads its body: answered at once, the body left unread.
        assert status == 200, status
    else:
        assert status == 413, status
    # Answered long before the body could have been read: the server stopped reading it.
    assert sent < HUGE and seconds < 5, (sent, seconds)
    assert httpx.get(f"{base}/api/runs", timeout=10).status_code == 200
    assert proc.poll() is None


@pytest.mark.slow  # a real server process
def test_a_body_just_over_the_limit_names_the_limit(server):
    _, base = server
    r = httpx.post(f"{base}/api/quiz/sessions", json={"run": "x" * MAX_BODY_BYTES}, timeout=10)
    assert r.status_code == 413 and f"at most {MAX_BODY_BYTES} bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"run": "'
        for _ in range(MAX_BODY_BYTES // len(PIECE) + 2):
            yield PIECE
        yield b'"}'

    headers = {"content-type": "application/json"}
    r = httpx.post(f"{base}/api/quiz/sessions", content=chunks(), headers=headers, timeout=10)
    assert r.status_code == 413 and f"at most {MAX_BODY_BYTES} bytes" in r.json()["detail"]


def _trickle(base: str, head: bytes, stop: threading.Event) -> None:
    """Sends ``head`` one byte a second until ``stop`` (a slowloris client)."""
    with socket.create_connection(_address(base), timeout=10) as sock:
        for byte in head:
            if stop.wait(1.0):
                return
            sock.sendall(bytes([byte]))


@pytest.mark.slow  # a real server process, ~11 s
def test_slow_clients_do_not_hold_up_others_and_a_stalled_body_is_dropped(server):
    proc, base = server
    host = base.removeprefix("http://")
    stop = threading.Event()
    head = get_request(base, "/api/runs")
    body_head = (
        f"POST /api/quiz/sessions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: 100\r\n\r\n"
    ).encode()
    tricklers = [
        threading.Thread(target=_trickle, args=(base, head, stop)),  # headers, slowly
        threading.Thread(target=_trickle, args=(base, body_head + b"{" * 99, stop)),  # body
    ]
    for thread in tricklers:
        thread.start()
    stalled = socket.create_connection(_address(base), timeout=20)
    try:
        stalled.sendall(body_head + b'{"run": ')  # and never the rest
        started = time.monotonic()
        with httpx.Client(base_url=base, timeout=10) as http:
            for _ in range(20):  # about 5 s of other clients, each answered at once
                before = time.monotonic()
                assert http.get("/api/runs").status_code == 200
                assert time.monotonic() - before < 1.0
                time.sleep(0.25)
        # The stalled body is given up after BODY_STALL_S: its request slot is free again.
        assert _status(stalled) == 408 and time.monotonic() - started < 15
    finally:
        stalled.close()
        stop.set()
        for thread in tricklers:
            thread.join(timeout=5)
    assert proc.poll() is None


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.slow  # a real server process, 200 requests
def test_200_generate_requests_at_once_get_200_or_503_with_retry_after(server):
    proc, base = server
    request = get_request(base, "/api/runs/cond/generate.png?count=64&seed=7")
    rss_before = _rss_kib(proc.pid)
    responses = asyncio.run(raw_requests(base, request, 200))
    statuses = [status for status, _ in responses]
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses.count(200)
    busy = [head.lower() for status, head in responses if status == 503]
    assert all(b"\r\nretry-after: 1\r\n" in head for head in busy)
    assert b'"detail":"the server is busy' in busy[0]
    # The overflow was refused, not queued: the server grew by at most a few generations.
    assert _rss_kib(proc.pid) - rss_before < 512 * 1024
    assert httpx.get(f"{base}/api/runs/cond/generate.png?count=1", timeout=10).status_code == 200
    assert proc.poll() is None


def test_guarded_body_gives_up_on_a_stalled_body_and_passes_through_after_it():
    async def never():
        await asyncio.sleep(60)

    async def stalled():
        await GuardedBody(never, stall_s=0.05)()

    with pytest.raises(HTTPException) as refused:
        asyncio.run(stalled())
    assert refused.value.status_code == 408

    async def complete_then_wait():
        deadline = GuardedBody(_BodyThenLateDisconnect(late_s=0.2), stall_s=0.05)
        # After the whole body, a wait for the disconnect may last as long as it likes.
        return await deadline(), await deadline()

    first, later = asyncio.run(complete_then_wait())
    assert first["body"] == b"{}" and later == {"type": "http.disconnect"}


class _BodyThenLateDisconnect:
    """An ASGI receive: the whole body at once, then a disconnect only after ``late_s``."""

    def __init__(self, late_s: float):
        self.late_s, self.calls = late_s, 0

    async def __call__(self) -> dict:
        self.calls += 1
        if self.calls == 1:
            return {"type": "http.request", "body": b"{}", "more_body": False}
        await asyncio.sleep(self.late_s)
        return {"type": "http.disconnect"}
