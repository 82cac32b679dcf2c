"""The JSON / PNG API under ``/api``: runs, generation, interpolation and the human test.

Owns: the routes and turning library results into responses; the parameter
bounds are ``params``', the human test's rules ``quiz``'s. Every slow step (loading, generating) goes through the engine's
bounded pool; database calls run in FastAPI's thread pool (plain ``def``
routes), so the event loop never waits on either.
"""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response

from gankit.config import dump_yaml
from gankit.data import label_index
from gankit.errors import GankitError
from gankit.web import schemas as s
from gankit.web.catalog import ServedRun
from gankit.web.errors import NotFound, Unprocessable
from gankit.web.models import grid_png, png_bytes
from gankit.web.params import (
    DEFAULT_COUNT,
    DEFAULT_FRAMES,
    MAX_FRAMES,
    MAX_SCALE,
    MAX_SEED,
    Checkpoint,
    Count,
    Id,
    Label,
    RunId,
    Seed,
)
from gankit.web.quiz import DEFINITION, Question, Session, reference_003
from gankit.web.quiz_table import results_table
from gankit.web.security import require_json
from gankit.web.services import Services, Svc, services

router = APIRouter(prefix="/api")
PNG = {200: {"content": {"image/png": {}}, "description": "a PNG image"}}


def resolve_label(served: ServedRun, label: str | None) -> int | None:
    """A label given by index or name -> its index; refused for unconditional runs (422)."""
    if label is None or label.strip() == "":
        return None
    if not served.conditional:
        raise Unprocessable(
            f"run {served.id} is unconditional (trained without labels) - omit label"
        )
    try:
        return label_index(served.class_names, label)
    except GankitError as e:
        raise Unprocessable(str(e)) from None


def summary(served: ServedRun) -> dict:
    cfg = served.config
    return {
        "id": served.id,
        "dataset": cfg.data.dataset,
        "arch": cfg.model.arch,
        "conditioning": cfg.model.conditioning,
        "loss": cfg.loss.loss,
        "img_size": cfg.data.img_size,
        "channels": cfg.data.channels,
        "class_names": served.class_names,
        "conditional": served.conditional,
        "checkpoints": served.run.checkpoint_steps(),
        "has_best": served.has_best(),
        "sample_steps": served.sample_steps(),
        "has_losses": served.run.losses_path.is_file(),
        "has_report": served.report_file() is not None,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- runs and their files ---


@router.get("/runs", response_model=list[s.RunSummary], tags=["runs"])
def list_runs(svc: Svc):
    return [summary(served) for served in svc.catalog]


@router.get("/runs/{run_id}", response_model=s.RunDetail, tags=["runs"])
def get_run(run_id: RunId, svc: Svc):
    served = svc.catalog.get(run_id)
    return {**summary(served), "config_yaml": dump_yaml(served.config)}


@router.get("/runs/{run_id}/samples/{step}.png", responses=PNG, tags=["runs"])
def sample_grid(run_id: RunId, step: Annotated[int, Path(ge=0)], svc: Svc):
    """The sample grid saved at ``step`` while training."""
    return FileResponse(svc.catalog.get(run_id).sample_file(step), media_type="image/png")


@router.get("/runs/{run_id}/losses.png", responses=PNG, tags=["runs"])
def losses(run_id: RunId, svc: Svc):
    return FileResponse(svc.catalog.get(run_id).losses_file(), media_type="image/png")


@router.get("/runs/{run_id}/report.html", response_class=HTMLResponse, tags=["runs"])
def report(run_id: RunId, svc: Svc):
    """The run's evaluation report (``gankit evaluate``), self-contained, shown sandboxed."""
    path = svc.catalog.get(run_id).report_file()
    if path is None:
        raise NotFound(f"run {run_id} has no evaluation report - run gankit evaluate on it")
    # Sandboxed: the report is a file from disk; it runs no script and sends nothing.
    csp = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return FileResponse(path, media_type="text/html", headers={"Content-Security-Policy": csp})


# --- generation ---


@dataclass(frozen=True)
class GridQuery:
    """What both generate routes are asked: run, checkpoint, label, how many, first seed."""

    run_id: str
    checkpoint: str
    label: str | None
    count: int
    seed: int


def grid_query(
    run_id: RunId,
    checkpoint: Checkpoint = "latest",
    label: Label = None,
    count: Count = DEFAULT_COUNT,
    seed: Seed = 0,
) -> GridQuery:
    # Only gathers: a dependency that looked runs up or generated would do so before the
    # route's own parameters are validated.
    return GridQuery(run_id, checkpoint, label, count, seed)


GridParams = Annotated[GridQuery, Depends(grid_query)]


@router.get("/runs/{run_id}/generate", response_model=s.GenerateOut, tags=["generate"])
async def generate_json(request: Request, query: GridParams):
    """``count`` images (image i from seed ``seed + i``) as base64 PNGs, and their grid."""
    served, step, index, images = await _grid_images(services(request), query)
    url_query = request.url.query
    return s.GenerateOut(
        run=served.id,
        checkpoint=step,
        seed=query.seed,
        count=query.count,
        label=index,
        label_name=None if index is None else served.class_names[index],
        grid_png_base64=_b64(grid_png(images)),
        images_png_base64=[_b64(png_bytes(image)) for image in images],
        grid_url=f"/api/runs/{served.id}/generate.png" + (f"?{url_query}" if url_query else ""),
    )


@router.get("/runs/{run_id}/generate.png", responses=PNG, tags=["generate"])
async def generate_png(
    request: Request,
    query: GridParams,
    scale: int = Query(1, ge=1, le=MAX_SCALE, description="enlarge without smoothing"),
    download: bool = Query(False, description="send as a file to save"),
):
    """The grid of ``count`` images as one PNG, 8 per row."""
    served, step, index, images = await _grid_images(services(request), query)
    headers = {"Cache-Control": "private, max-age=300"}  # same inputs, same images
    if download:
        what = "balanced" if index is None else served.class_names[index]
        name = f"{served.id}_step{step}_{what}_seed{query.seed}_n{query.count}.png"
        headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return Response(grid_png(images, scale), media_type="image/png", headers=headers)


@router.get("/runs/{run_id}/interpolate", response_model=s.InterpolationOut, tags=["generate"])
async def interpolate(
    request: Request,
    run_id: RunId,
    checkpoint: Checkpoint = "latest",
    label: Label = None,
    seed_a: Annotated[int, Query(ge=0, le=MAX_SEED)] = 0,
    seed_b: Annotated[int, Query(ge=0, le=MAX_SEED)] = 1,
    frames: int = Query(DEFAULT_FRAMES, ge=2, le=MAX_FRAMES),
):
    """``frames`` images walking from seed_a's noise to seed_b's (conditional: one label)."""
    svc = services(request)
    served, step, index = _generation_inputs(svc, run_id, checkpoint, label)
    job = (served, step, (seed_a, seed_b), frames, index)
    images = await svc.engine.run(svc.engine.interpolation, *job)
    return s.InterpolationOut(
        run=served.id,
        checkpoint=step,
        seeds=[seed_a, seed_b],
        label=index if served.conditional else None,
        frames_png_base64=[_b64(png_bytes(image)) for image in images],
    )


def _generation_inputs(svc: Services, run_id: str, checkpoint: str, label: str | None):
    served = svc.catalog.get(run_id)
    return served, served.checkpoint(checkpoint), resolve_label(served, label)


async def _grid_images(svc: Services, query: GridQuery):
    """(run, step, label index, images) for a generate request; the images from the pool."""
    served, step, index = _generation_inputs(svc, query.run_id, query.checkpoint, query.label)
    job = (served, step, query.count, query.seed, index)
    return served, step, index, await svc.engine.run(svc.engine.images, *job)


# --- the human test ---


def session_out(session: Session) -> s.SessionOut:
    return s.SessionOut(
        id=session.id,
        run=session.run,
        checkpoint=session.checkpoint,
        questions=session.questions,
        asked=session.asked,
        answered=session.answered,
        done=session.done,
        error_rate=session.error_rate,
        page_url=f"/quiz/{session.id}",
    )


def question_out(question: Question, of: int) -> s.QuestionOut:
    return s.QuestionOut(
        id=question.id,
        session=question.session,
        number=question.number,
        of=of,
        images=[f"/api/quiz/images/{token}.png" for token in question.images],
        answer_url=f"/api/quiz/questions/{question.id}/answer",
    )


@router.post(
    "/quiz/sessions",
    response_model=s.SessionOut,
    dependencies=[Depends(require_json)],
    tags=["human test"],
)
def create_session(body: s.StartIn, svc: Svc):
    return session_out(svc.quiz.start(body.run, body.checkpoint, body.questions, "api"))


@router.get("/quiz/sessions/{sid}", response_model=s.SessionOut, tags=["human test"])
def get_session(sid: Id, svc: Svc):
    return session_out(svc.quiz.session(sid))


@router.post("/quiz/sessions/{sid}/question", response_model=s.QuestionOut, tags=["human test"])
async def session_question(request: Request, sid: Id):
    """The question to answer now: the open one, or the next (made on demand)."""
    question, session = await services(request).quiz.next_question(sid)
    return question_out(question, session.questions)


@router.get("/quiz/images/{token}.png", responses=PNG, tags=["human test"])
def quiz_image(token: Id, svc: Svc):
    headers = {"Cache-Control": "private, max-age=3600"}
    return Response(svc.quiz.image(token), media_type="image/png", headers=headers)


@router.post(
    "/quiz/questions/{qid}/answer",
    response_model=s.AnswerOut,
    dependencies=[Depends(require_json)],
    tags=["human test"],
)
def answer(body: s.AnswerIn, qid: Id, svc: Svc):
    """Records which two positions are thought generated; once per question (else 409)."""
    return s.AnswerOut(**vars(svc.quiz.answer(qid, body.generated)))


@router.get("/quiz/results", response_model=s.ResultsOut, tags=["human test"])
def results(svc: Svc):
    rows = [vars(r) for r in svc.quiz.results()]
    by_kind = asdict(results_table(svc.quiz))
    return s.ResultsOut(
        definition=DEFINITION, results=rows, reference_003=reference_003(), table_003=by_kind
    )


@router.get("/quiz/answers.csv", response_class=PlainTextResponse, tags=["human test"])
def answers_csv(svc: Svc):
    """Every answer as CSV: session, question, run, checkpoint, positions, missed, seconds."""
    return Response(
        svc.quiz.store.answers_csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="gankit-human-test.csv"'},
    )
