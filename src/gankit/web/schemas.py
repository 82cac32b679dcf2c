"""The JSON shapes of the API, as pydantic models (they make the OpenAPI schema).

Owns only the shapes and their bounds; what fills them is in ``api``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from gankit.web.params import (
    DEFAULT_QUESTIONS,
    MAX_CHECKPOINT_CHARS,
    MAX_ID_CHARS,
    MAX_QUESTIONS,
)


class RunSummary(BaseModel):
    id: str = Field(description="the run's URL id (its folder name)")
    dataset: str
    arch: str
    conditioning: str = Field(description="none, concat or projection")
    loss: str
    img_size: int
    channels: int
    class_names: list[str] = Field(description="label index -> name ([] when unlabelled)")
    conditional: bool
    checkpoints: list[int] = Field(description="steps of the complete checkpoints")
    has_best: bool
    sample_steps: list[int] = Field(description="steps of the sample grids saved in training")
    has_losses: bool
    has_report: bool = Field(description="an evaluation report (gankit evaluate) exists")


class RunDetail(RunSummary):
    config_yaml: str


class GenerateOut(BaseModel):
    run: str
    checkpoint: int = Field(description="the step of the checkpoint used")
    seed: int = Field(description="image i uses seed + i")
    count: int
    label: int | None = Field(description="the label of every image; null = balanced or none")
    label_name: str | None
    grid_png_base64: str = Field(description="all images as one grid, at their own size")
    images_png_base64: list[str]
    grid_url: str = Field(description="the same grid as a PNG (add &scale=4 to enlarge)")


class InterpolationOut(BaseModel):
    run: str
    checkpoint: int
    seeds: list[int]
    label: int | None
    frames_png_base64: list[str]


class StartIn(BaseModel):
    run: str | None = Field(
        None, max_length=MAX_ID_CHARS, description="run id; null = one at random"
    )
    checkpoint: str = Field(
        "latest", max_length=MAX_CHECKPOINT_CHARS, description="'latest', 'best' or a step"
    )
    questions: int = Field(DEFAULT_QUESTIONS, ge=1, le=MAX_QUESTIONS)


class SessionOut(BaseModel):
    id: str
    run: str
    checkpoint: int
    questions: int
    asked: int
    answered: int
    done: bool
    error_rate: float | None = Field(description="share of generated images not found so far")
    page_url: str


class QuestionOut(BaseModel):
    id: str
    session: str
    number: int = Field(description="1-based")
    of: int
    images: list[str] = Field(description="the 4 image URLs, by position 0-3, in random order")
    answer_url: str


class AnswerIn(BaseModel):
    generated: list[int] = Field(
        min_length=2, max_length=2, description="the two positions (0-3) thought generated"
    )


class AnswerOut(BaseModel):
    question: str
    marked: list[int]
    generated_positions: list[int] = Field(description="the truth, revealed after answering")
    missed: int = Field(description="generated images not marked (0-2)")
    seconds: float = Field(description="from the question being made to the answer")
    session_done: bool


class ResultOut(BaseModel):
    run: str
    checkpoint: int
    answers: int = Field(description="questions answered")
    sessions: int
    generated_shown: int
    missed: int
    error_rate: float = Field(description="missed / generated_shown")
    ci_low: float = Field(description="95% Wilson score interval on the image-level counts")
    ci_high: float


class CellOut(BaseModel):
    dataset: str
    model: str = Field(description="GAN, DCGAN, WGAN or WGAN-GP; in other: the run's net, loss")
    runs: list[str] = Field(description="run@checkpoint of the runs whose answers it pools")
    answers: int
    missed: int
    error_rate: float
    ci_low: float
    ci_high: float
    reported: float | None = Field(description="seed 003's rate in % where a run is its preset")


class Table003Out(BaseModel):
    datasets: list[str] = Field(description="rows")
    models: list[str] = Field(description="columns")
    cells: list[CellOut] = Field(description="the filled cells of datasets x models")
    other: list[CellOut] = Field(description="runs of any other kind, one each")


class ResultsOut(BaseModel):
    definition: str
    results: list[ResultOut]
    reference_003: dict[str, dict[str, float]] = Field(
        description="seed 003's reported human error rates in %: model -> dataset -> rate"
    )
    table_003: Table003Out = Field(
        description="answers of the questionnaire mode (/quiz?mode=003) as seed 003 tabled them"
    )
