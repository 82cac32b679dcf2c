"""The app factory: wires the runs, the generation engine, the answers store and the routes.

Owns: building one FastAPI app from the folders to serve, the order of the
middleware (the request guard outermost), turning every ``GankitError`` into
a JSON ``{"detail": ...}`` with its status (and ``Retry-After`` when it is
``Unavailable``), and shutting the pool down.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gankit.errors import GankitError
from gankit.training import pick_device
from gankit.web import api, pages, quiz_pages
from gankit.web.catalog import Catalog, default_db
from gankit.web.errors import Unavailable
from gankit.web.models import Engine
from gankit.web.params import GENERATE_QUEUE, GENERATE_WORKERS
from gankit.web.quiz import Quiz
from gankit.web.quiz_store import QuizStore
from gankit.web.security import Csrf, RequestGuard, SecurityHeaders, allowed_hosts
from gankit.web.services import Services


def create_app(
    paths: Sequence[str | Path],
    *,
    db: str | Path | None = None,
    host: str = "127.0.0.1",
    extra_hosts: Iterable[str] = (),
    device: str = "cpu",
    workers: int = GENERATE_WORKERS,
    queue: int = GENERATE_QUEUE,
    cache_size: int = 4,
) -> FastAPI:
    """The web app serving the runs found in ``paths``.

    Args:
        paths: run folders, or folders holding runs (one or two levels down).
        db: the answers database (default: ``gankit-quiz.sqlite`` in the first folder).
        host: the address the server is bound to; Host headers must name it or localhost.
        extra_hosts: further Host names to accept (e.g. "testserver" for test clients).
        device: where generators run.
        workers, queue: generations at once, and waiting; beyond both -> 503.
        cache_size: generators kept loaded.
    """
    catalog = Catalog(paths)
    engine = Engine(
        device=str(pick_device(device)), workers=workers, queue=queue, cache_size=cache_size
    )
    quiz = Quiz(catalog, engine, QuizStore(db or default_db(paths)))
    services = Services(catalog=catalog, engine=engine, quiz=quiz, csrf=Csrf())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        services.engine.close()

    app = FastAPI(
        title="gankit",
        summary="Generate images from trained GAN runs, browse runs, and the human test",
        lifespan=lifespan,
    )
    app.state.services = services
    for module in (api, pages, quiz_pages):
        app.include_router(module.router)
    app.add_exception_handler(GankitError, _gankit_error)
    app.add_exception_handler(sqlite3.OperationalError, _database_busy)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestGuard, hosts=allowed_hosts(host, extra_hosts))  # outermost
    return app


async def _gankit_error(request: Request, exc: GankitError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Unavailable) else None
    status = getattr(exc, "status", 400)  # the library's own errors are bad input
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own handler echoes each bad input back, and a JSON body holding NaN or
    # Infinity (which Python's parser accepts) then fails to encode: a 500. Say where
    # and what is wrong, without the value.
    detail = [
        {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _database_busy(request: Request, exc: sqlite3.OperationalError) -> JSONResponse:
    # The answers store says what went wrong itself (Unavailable); this is the net under
    # any database call outside it: still a 503 to try again, never a 500.
    return JSONResponse(
        {"detail": f"the answers database is busy ({exc}) - try again"},
        status_code=503,
        headers={"Retry-After": "1"},
    )
