"""Helpers shared by the web tests (no tests here): tiny runs, the app, a live server.

The runs are trained once per test session (about 2 s) and copied where a test
needs another layout; every test that writes gets its own database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi.testclient import TestClient

from gankit import training
from gankit.web import create_app
from tests.support import tiny_config

_RUNS: dict[str, Path] = {}
SAME_ORIGIN = {"Origin": "http://testserver"}


def tiny_runs(tmp_path_factory) -> Path:
    """A folder holding a conditional run ``cond``, an unconditional ``uncond`` (both with
    checkpoints at steps 2 and 4, samples, losses; ``cond`` with an evaluation report), a
    nested ``group/cond`` (a second run named cond) and ``empty`` (a run with no checkpoint)."""
    if "runs" not in _RUNS:
        root = tmp_path_factory.getbasetemp() / "web-runs"
        log = {"sample_every": 2, "checkpoint_every": 2, "log_every": 2}
        train = {"steps": 4}
        training.train(tiny_config(log=log, train=train), root / "cond", progress=False)
        uncond = tiny_config(log=log, train=train, model={"conditioning": "none"})
        training.train(uncond, root / "uncond", progress=False)
        (root / "cond" / "eval").mkdir()
        (root / "cond" / "eval" / "report.html").write_text("<h1>Evaluation of cond</h1>")
        shutil.copytree(root / "cond", root / "group" / "cond")
        (root / "empty" / "checkpoints").mkdir(parents=True)
        shutil.copy(root / "cond" / "config.yaml", root / "empty" / "config.yaml")
        _RUNS["runs"] = root
    return _RUNS["runs"]


def make_app(folder: Path, db: Path, **options):
    return create_app([folder], db=db, extra_hosts=("testserver",), **options)


def client(app) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@contextmanager
def live_server(app):
    """Runs ``app`` under uvicorn on a free port in a background thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", limit_concurrency=4096, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


async def raw_requests(base: str, request: bytes, n: int) -> list[tuple[int, bytes]]:
    """Sends ``request`` on ``n`` connections at once -> [(status, body)]; far lighter than
    an HTTP client library, so the server, not the client, is what a flood test measures."""
    host, port = base.removeprefix("http://").split(":")

    async def one() -> tuple[int, bytes]:
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(request)
        await writer.drain()
        data = await reader.read()  # the request says Connection: close
        writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), head + b"\r\n\r\n" + body

    return await asyncio.gather(*(one() for _ in range(n)))


def get_request(base: str, path: str) -> bytes:
    host = base.removeprefix("http://")
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()


@contextmanager
def serve_process(folder: Path, db: Path, env: dict[str, str] | None = None):
    """Runs ``gankit serve`` on a free port in its own process (``env``: further environment
    variables); yields (process, base URL).

    The server's stderr goes to a file, so a chatty server never blocks on a full pipe;
    it is shown when the server does not come up.
    """
    cmd = [sys.executable, "-m", "gankit", "serve", str(folder), "--port", "0", "--db", str(db)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})}
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
        try:
            line = proc.stdout.readline()
            log.seek(0)
            assert " at http://" in line, line + log.read()
            base = line.split(" at ", 1)[1].split()[0].rstrip("/")
            # The socket listens before the line is printed: this waits for the app to start.
            assert httpx.get(f"{base}/api/runs", timeout=60).status_code == 200
            yield proc, base
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=20)
            proc.stdout.close()
