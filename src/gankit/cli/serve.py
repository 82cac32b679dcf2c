"""``gankit serve``: the web app (generate, runs, the human test) under uvicorn."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

from gankit.errors import GankitError

# Connections uvicorn keeps at once; beyond this it answers a bare 503. The app's own
# bounds are tighter and answer in JSON: requests in progress (RequestGuard) and
# generations (Engine), so a flood never queues without bound.
MAX_CONNECTIONS = 4096
# An idle kept-alive connection is closed after this. A slow client holds only its own
# connection, never the event loop: a stalled body ends in 408 (RequestGuard); headers
# have no deadline in uvicorn, so MAX_CONNECTIONS is what bounds clients trickling them.
KEEP_ALIVE_S = 5
# The request line and headers must fit in this (h11 answers 431 past it): a client cannot
# make the server buffer headers without bound.
MAX_HEADER_BYTES = 16 * 1024
LISTEN_BACKLOG = 2048  # connections the kernel holds before the server accepts them


def add_parser(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="web app: generate by label, browse runs, take the human test",
        description="Serve runs in a web app: generate images by label and seed, browse each "
        "run's samples, losses and evaluation, and run the human 'which two are generated?' "
        "test (answers in SQLite). Give run folders or folders holding runs.",
    )
    p.add_argument(
        "paths", type=Path, nargs="+", metavar="RUN_OR_FOLDER", help="runs or folders of runs"
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)"
    )
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--db",
        type=Path,
        help="answers database (default: gankit-quiz.sqlite in the first folder served)",
    )
    p.add_argument("--device", default="cpu", help="where to generate: cpu (default), cuda, auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from gankit.web import create_app
    from gankit.web.catalog import default_db

    if not 0 <= args.port <= 65535:
        raise GankitError(f"--port must be 0-65535, got {args.port}")
    db = args.db or default_db(args.paths)
    app = create_app(args.paths, db=db, host=args.host, device=args.device)
    sock = bind(args.host, args.port)  # here, so a taken port is one clear line
    port = sock.getsockname()[1]
    catalog = app.state.services.catalog
    for line in catalog.skipped:
        print(f"note: not serving {line}")
    runs = ", ".join(catalog.ids())
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"serving {runs} at http://{shown}:{port}/ (answers in {db}); Ctrl+C stops", flush=True)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print("note: the app has no login - anyone who can reach this address can use it")
    config = uvicorn.Config(
        app,
        http="h11",  # the pure-Python parser, with the header limit below
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE_S,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        backlog=LISTEN_BACKLOG,
        timeout_graceful_shutdown=KEEP_ALIVE_S,  # Ctrl+C never waits on a stuck client
        server_header=False,
        log_level="warning",
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), or one line saying why not."""
    sock = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError as e:
        if sock is not None:
            sock.close()
        raise GankitError(
            f"cannot serve on {host}:{port}: {e.strerror or e} - pick another --port or --host"
        ) from None
    return sock
