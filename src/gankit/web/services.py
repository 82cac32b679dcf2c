"""What every route needs - the runs, the generation engine, the human test, the CSRF
tokens - as one object per app, and the FastAPI dependency that hands it to a route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from gankit.web.catalog import Catalog
from gankit.web.models import Engine
from gankit.web.quiz import Quiz
from gankit.web.security import Csrf


@dataclass
class Services:
    catalog: Catalog
    engine: Engine
    quiz: Quiz  # with the answers store (``quiz.store``)
    csrf: Csrf


def services(request: Request) -> Services:
    return request.app.state.services


Svc = Annotated[Services, Depends(services)]  # a route parameter ``svc: Svc`` gets them
