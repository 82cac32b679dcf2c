"""What a request may ask for: the limits, and the parameter types both views declare.

Owns every bound on what comes in by URL or body (id lengths, images per grid,
seeds, frames, scale, questions per test) and its default, so the JSON API, the
pages' routes and their HTML form fields all state the same numbers; and how
many generations run and wait at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

MAX_ID_CHARS = 100  # run ids, test sessions, questions, image tokens
MAX_CHECKPOINT_CHARS = 20  # 'latest', 'best' or a step number
MAX_LABEL_CHARS = 64  # a class index or name
MAX_COUNT = 64  # images per generated grid
DEFAULT_COUNT = 16
MAX_SEED = 2**31 - 1  # seeds are 0 .. 2**31 - 1, like most seed-taking tools
MAX_FRAMES = 32  # interpolation frames, made in one go
DEFAULT_FRAMES = 16
MAX_SCALE = 8  # enlargement of a downloaded grid
MAX_QUESTIONS = 50  # per human-test session
DEFAULT_QUESTIONS = 5
# Generations at once (each holds a model's activations) and waiting for a slot; a
# request beyond both is answered 503 with Retry-After at once, so a flood of requests
# costs neither memory nor a growing queue.
GENERATE_WORKERS = 2
GENERATE_QUEUE = 8

# Annotated parameter types: FastAPI copies these per route (a shared Query() object is not).
RunId = Annotated[str, Path(max_length=MAX_ID_CHARS, description="a run id from /api/runs")]
RunChoice = Annotated[str | None, Query(max_length=MAX_ID_CHARS, description="a run id")]
Id = Annotated[str, Path(max_length=MAX_ID_CHARS, description="an opaque id the API gave out")]
Checkpoint = Annotated[
    str, Query(max_length=MAX_CHECKPOINT_CHARS, description="'latest', 'best' or a step number")
]
Label = Annotated[
    str | None,
    Query(max_length=MAX_LABEL_CHARS, description="class index or name (conditional runs only)"),
]
Seed = Annotated[int, Query(ge=0, le=MAX_SEED, description="image i uses seed + i")]
Count = Annotated[int, Query(ge=1, le=MAX_COUNT, description="how many images")]
