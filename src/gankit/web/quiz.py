"""The human test's rules: how a question is drawn, how an answer is scored, and the
human error rate with its confidence interval.

The test follows seed 003's questionnaire: each question shows 2 real and 2
generated images in random order and the person marks the 2 they think are
generated. Per question, ``missed`` = generated images not marked (0, 1 or 2);
the human error rate = total missed / total generated images shown (= the
per-question fraction missed, averaged), with a 95% Wilson score interval on
those image-level counts. (Images of one person are not independent, so the
interval is somewhat optimistic; it is the usual one for such a proportion.)

Owns these rules and ``Quiz``, the one workflow the pages and the API both
call; what happened is kept by the answers store (``quiz_store``), and seed
003's own rates come from the reproduction catalogue.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from gankit.reproduce import find_document
from gankit.web.catalog import Catalog, ServedRun
from gankit.web.errors import Conflict, Unprocessable
from gankit.web.models import Engine, png_bytes
from gankit.web.params import MAX_QUESTIONS
from gankit.web.security import check_id

if TYPE_CHECKING:  # the store imports these rules; it is handed to ``Quiz``, not imported
    from gankit.web.quiz_store import QuizStore

POSITIONS = 4  # images per question
GENERATED = 2  # of which generated
REAL = POSITIONS - GENERATED
Z95 = 1.959963984540054  # standard normal quantile for a two-sided 95% interval
DEFINITION = (
    "human error rate = generated images not marked as generated / generated images shown "
    "(each question: 4 images, 2 real and 2 generated; the person marks 2); 95% Wilson "
    "score interval on these image-level counts"
)
# Seed 003's names for its models and datasets, by gankit's preset parts.
_MODELS_003 = {"gan": "GAN", "dcgan": "DCGAN", "wgan": "WGAN", "wgan-gp": "WGAN-GP"}
_DATA_003 = {"mnist": "MNIST", "shapes": "NLVR", "flowers": "flowers"}


@dataclass(frozen=True)
class Session:
    id: str
    run: str
    checkpoint: int
    questions: int  # how many the session asks
    asked: int
    answered: int
    missed: int  # generated images not marked, over the answered questions

    @property
    def done(self) -> bool:
        return self.answered >= self.questions

    @property
    def generated_shown(self) -> int:
        return GENERATED * self.answered

    @property
    def error_rate(self) -> float | None:
        """This person's error rate so far (None before the first answer)."""
        return error_rate(self.missed, self.answered)


@dataclass(frozen=True)
class Question:
    id: str
    session: str
    number: int  # 1-based within the session
    images: list[str]  # opaque image tokens, by position


@dataclass(frozen=True)
class Answer:
    question: str
    session: str
    generated_positions: list[int]  # the truth, revealed once answered
    marked: list[int]
    missed: int
    seconds: float
    session_done: bool  # this was the session's last question

    @property
    def found(self) -> int:
        return GENERATED - self.missed


@dataclass(frozen=True)
class Result:
    """The human error rate of one run and checkpoint."""

    run: str
    checkpoint: int
    answers: int
    sessions: int
    generated_shown: int
    missed: int
    error_rate: float
    ci_low: float
    ci_high: float

    @classmethod
    def of(cls, run: str, checkpoint: int, answers: int, sessions: int, missed: int) -> Result:
        """The statistic of ``answers`` answered questions that missed ``missed`` in all."""
        low, high = wilson(missed, GENERATED * answers)
        rate = error_rate(missed, answers)
        return cls(run, checkpoint, answers, sessions, GENERATED * answers, missed, rate, low, high)


@dataclass(frozen=True)
class QuizImages:
    """The four images of one question, in the order shown, and which of them are real."""

    pngs: list[bytes]
    real_positions: tuple[int, ...]
    sources: list[str]  # per position, for the record: "real test[123]" / "generated seed 7 ..."


# --- the statistic ---


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials ((0, 1) when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At k = 0 and k = n the bound is exactly 0 or 1; rounding would give 1e-17 or 0.99...
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def error_rate(missed: int, answers: int) -> float | None:
    """Generated images missed / generated images shown in ``answers`` questions."""
    return missed / (GENERATED * answers) if answers else None


def reference_003() -> dict[str, dict[str, float]]:
    """Seed 003's reported human error rates in %: model -> dataset -> rate."""
    table: dict[str, dict[str, float]] = {}
    for experiment in find_document("003").experiments:
        model = _MODELS_003[experiment.preset.removeprefix(f"{experiment.data}-")]
        rate = experiment.reported["human_error_rate"]
        table.setdefault(model, {})[_DATA_003[experiment.data]] = rate
    return table


# --- questions and answers ---


def check_questions(questions: int) -> int:
    """How many questions a session asks: 1 to ``MAX_QUESTIONS``."""
    if not 1 <= questions <= MAX_QUESTIONS:
        raise Unprocessable(f"questions must be 1-{MAX_QUESTIONS}, got {questions}")
    return questions


def check_marked(marked: Sequence[int]) -> list[int]:
    """The two positions a person marked as generated: distinct, each 0-3."""
    values = list(marked)
    if len(values) != GENERATED or len(set(values)) != GENERATED:
        raise Unprocessable(f"mark exactly {GENERATED} different images (got {values[:8]})")
    if any(type(v) is not int or not 0 <= v < POSITIONS for v in values):
        raise Unprocessable(f"positions are 0-{POSITIONS - 1} (got {values})")
    return sorted(values)


def generated_positions(real_positions: Sequence[int]) -> list[int]:
    return [k for k in range(POSITIONS) if k not in real_positions]


def missed_count(generated: Sequence[int], marked: Sequence[int]) -> int:
    return sum(k not in marked for k in generated)


def draw_images(engine: Engine, served: ServedRun, step: int) -> QuizImages:
    """A question's images from a system RNG: 2 held-out real, 2 generated, shuffled.

    Slow (it generates): run it in the engine's pool.
    """
    rng = random.SystemRandom()
    images, sources = engine.quiz_images(served, step, REAL, GENERATED, rng)
    order = rng.sample(range(POSITIONS), POSITIONS)  # order[k]: the image (reals first) at k
    real_positions = tuple(sorted(k for k, which in enumerate(order) if which < REAL))
    pngs = [png_bytes(images[which]) for which in order]
    return QuizImages(pngs, real_positions, [sources[which] for which in order])


class Quiz:
    """The human test over the served runs: sessions, their questions, answers and results.

    Ids from requests are checked here, so every caller gets the same 404s.
    """

    def __init__(self, catalog: Catalog, engine: Engine, store: QuizStore):
        self.catalog, self.engine, self.store = catalog, engine, store

    def start(self, run: str | None, checkpoint: str, questions: int, client: str) -> Session:
        """A new session on ``run`` (a run with checkpoints, at random, when not given).

        A write: it may wait for the database lock, so call it from a thread.
        """
        served = self.catalog.get(run) if run else random.choice(self.catalog.require_ready())
        return self.store.start_session(served.id, served.checkpoint(checkpoint), questions, client)

    def session(self, sid: str) -> Session:
        return self.store.session(check_id(sid, "test session"))

    async def next_question(self, sid: str) -> tuple[Question, Session]:
        """The session's open question, or a new one made in the pool (409 once all are answered).

        The database calls run in the thread pool too: one can wait for the write lock.
        """
        session = await run_in_threadpool(self.session, sid)
        question = await run_in_threadpool(self.store.open_question, sid)
        if question is not None:
            return question, session
        if session.done:
            raise Conflict(f"all {session.questions} questions of this session are answered")
        served = self.catalog.get(session.run)
        drawn = await self.engine.run(draw_images, self.engine, served, session.checkpoint)
        job = (sid, drawn.pngs, drawn.real_positions, drawn.sources)
        return await run_in_threadpool(self.store.add_question, *job), session

    def answer(self, qid: str, marked: Sequence[int], sid: str | None = None) -> Answer:
        """Records the positions marked as generated; a question is answered once (else 409)."""
        qid = check_id(qid, "question")
        sid = None if sid is None else check_id(sid, "test session")
        return self.store.answer(qid, marked, sid)

    def image(self, token: str) -> bytes:
        return self.store.image(check_id(token, "image"))

    def results(self) -> list[Result]:
        return self.store.results()
