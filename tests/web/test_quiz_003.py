"""Document 003's questionnaire mode: its rules, its store, its table and its page flow."""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

from gankit.config import Config, DataConfig, LossConfig, ModelConfig
from gankit.presets import get_preset
from gankit.run import open_run, save_config
from gankit.web.errors import Unprocessable
from gankit.web.quiz import (
    EXAMPLES_003,
    GENERATED,
    MODE_003,
    REAL,
    Examples,
    Result,
    check_pool,
    draw_with_examples,
    wilson,
)
from gankit.web.quiz_store import SCHEMA, QuizStore
from gankit.web.quiz_table import OTHER, Kind, kind_of, table
from tests.web.support import SAME_ORIGIN, client, make_app, tiny_runs
from tests.web.test_quiz import PNGS, SOURCES


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


@pytest.fixture
def store(tmp_path):
    return QuizStore(tmp_path / "answers.sqlite")


def preset_copy(source: Path, target: Path, preset: str, **data) -> Path:
    """A copy of the run ``source`` whose config names ``preset`` (and changes ``data``)."""
    shutil.copytree(source, target)
    run = open_run(target)
    cfg = run.config()
    save_config(run, replace(cfg, preset=preset, data=replace(cfg.data, **data)))
    return target


# --- the rules ---


def test_a_session_asks_for_no_more_real_images_than_the_data_holds():
    assert check_pool("r", 8, 16) == 8  # 8 questions of 2 real images: exactly 16
    with pytest.raises(Unprocessable, match="run r has 16 real images.*ask for at most 8$"):
        check_pool("r", 9, 16)
    assert check_pool("r", 1, 10, examples=EXAMPLES_003) == 1
    with pytest.raises(Unprocessable, match="besides 8 examples - leave this run out"):
        check_pool("r", 1, 9, examples=EXAMPLES_003)
    with pytest.raises(Unprocessable, match="questions must be 1-50"):
        check_pool("r", 0, 1000)


class _MarkedEngine:
    """Hands out images whose single pixel says where they came from: reals 0.., fakes 100.."""

    def __init__(self):
        self.asked = None

    def quiz_images(self, served, step, real, generated, rng):
        self.asked = (real, generated)
        images = [torch.full((1, 2, 2), k, dtype=torch.uint8) for k in range(real)]
        images += [torch.full((1, 2, 2), 100 + k, dtype=torch.uint8) for k in range(generated)]
        return images, [f"real {k}" for k in range(real)] + [f"fake {k}" for k in range(generated)]


def _pixel(png: bytes) -> int:
    return Image.open(io.BytesIO(png)).getpixel((0, 0))


def test_example_panels_come_from_the_right_sources_and_never_repeat_the_question():
    engine = _MarkedEngine()
    question, examples = draw_with_examples(engine, None, 4)
    assert engine.asked == (REAL + EXAMPLES_003, GENERATED + EXAMPLES_003)
    shown = [_pixel(png) for png in question.pngs]
    assert sorted(shown[k] for k in question.real_positions) == list(range(REAL))
    assert sorted(v for v in shown if v >= 100) == [100 + k for k in range(GENERATED)]
    real, fake = [_pixel(p) for p in examples.real], [_pixel(p) for p in examples.generated]
    assert len(real) == len(fake) == EXAMPLES_003
    assert all(v < 100 for v in real) and all(v >= 100 for v in fake)
    assert not set(real + fake) & set(shown)  # no image both in a panel and in the question
    assert examples.sources[:EXAMPLES_003] == [f"real {k}" for k in range(REAL, REAL + 8)]


def test_a_run_goes_to_its_dataset_and_model_column():
    assert kind_of(get_preset("mnist-dcgan")) == Kind("MNIST", "DCGAN", 44.44)
    assert kind_of(get_preset("shapes-wgan-gp")) == Kind("NLVR", "WGAN-GP", 19.44)
    mnist = DataConfig(dataset="mnist")
    mlp = ModelConfig(arch="mlp")
    assert kind_of(Config(data=mnist, model=mlp, loss=LossConfig(loss="ns"))) == Kind(
        "MNIST", "GAN"
    )
    assert kind_of(Config(loss=LossConfig(loss="wgan"))).model == "WGAN"
    dcgan = ModelConfig(arch="dcgan")
    assert kind_of(Config(model=dcgan, loss=LossConfig(loss="minimax"))).model == "DCGAN"
    assert kind_of(Config(model=dcgan, loss=LossConfig(loss="hinge"))).model == OTHER


def test_the_table_pools_runs_by_dataset_and_model():
    runs = {
        "a": (Kind("MNIST", "DCGAN", 44.44), "keras, ns"),
        "b": (Kind("MNIST", "DCGAN"), "dcgan, ns"),
        "c": (Kind("NLVR", "GAN", 0.0), "keras, ns"),
        "d": (Kind("shapes", OTHER), "dcgan, hinge"),
    }
    results = [
        Result.of("a", 10, answers=3, sessions=3, missed=2),
        Result.of("b", 4, answers=1, sessions=1, missed=2),
        Result.of("c", 10, answers=2, sessions=2, missed=0),
        Result.of("d", 4, answers=1, sessions=1, missed=1),
        Result.of("gone", 4, answers=1, sessions=1, missed=0),
    ]
    result = table(results, runs)
    assert result.datasets == ["MNIST", "NLVR"] and result.models == [
        "GAN",
        "DCGAN",
        "WGAN",
        "WGAN-GP",
    ]
    dcgan = result.cell("MNIST", "DCGAN")
    assert (dcgan.answers, dcgan.missed, dcgan.runs) == (4, 4, ["a@10", "b@4"])
    assert dcgan.error_rate == 0.5 and (dcgan.ci_low, dcgan.ci_high) == wilson(4, 8)
    assert dcgan.reported == 44.44  # one of its runs is 003's preset
    nlvr = result.cell("NLVR", "GAN")
    assert nlvr.error_rate == 0.0 and nlvr.reported == 0.0
    assert result.cell("MNIST", "WGAN") is None
    assert [(c.runs, c.dataset, c.model) for c in result.other] == [
        (["d@4"], "shapes", "dcgan, hinge"),
        (["gone@4"], "?", "not served"),
    ]


# --- the store ---


def test_a_survey_is_one_session_per_run_answered_in_order(store):
    survey = store.start_survey(MODE_003, [("a", 2), ("b", 4), ("c", 4)], 1, "me")
    assert [p.run for p in survey.parts] == ["a", "b", "c"] and survey.questions == 3
    assert survey.current == survey.parts[0] and store.survey_of(survey.parts[1].id) == survey.id
    q = store.add_question(survey.parts[0].id, PNGS, (0, 2), SOURCES)
    store.answer(q.id, [1, 2])
    survey = store.survey(survey.id)
    assert survey.current == survey.parts[1] and survey.answered == 1 and survey.missed == 1
    open_session = store.start_session("a", 2, 1)
    assert store.survey_of(open_session.id) is None
    store.answer(store.add_question(open_session.id, PNGS, (0, 2), SOURCES).id, [1, 3])
    # Both answers count per run; the mode's results only the survey's one.
    assert [(r.run, r.answers, r.missed) for r in store.results()] == [("a", 2, 1)]
    assert [(r.run, r.answers, r.missed) for r in store.mode_results(MODE_003)] == [("a", 1, 1)]
    assert store.mode_results("other") == []


def test_a_question_keeps_its_first_example_panels(store):
    sid = store.start_survey(MODE_003, [("a", 2)], 1).parts[0].id
    q = store.add_question(sid, PNGS, (0, 2), SOURCES)
    assert store.examples(q.id) is None
    first = Examples([b"r0", b"r1"], [b"g0", b"g1"], ["real 1", "real 2", "seed 1", "seed 2"])
    store.add_examples(q.id, first)
    store.add_examples(q.id, Examples([b"x"], [b"y"], ["x", "y"]))  # a racing second draw
    assert store.examples(q.id) == first
    assert store.counts()["images"] == 4  # the panels are not the question's images


def test_an_older_database_opens_with_its_answers(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA)
        con.execute("INSERT INTO sessions VALUES ('s', '', 'r', 2, 1, 0)")
        con.execute(
            "INSERT INTO questions VALUES ('q', 's', 1, 'r', 2, '0,1', 0, '2,3', 0, 1.5, 1)"
        )
    store = QuizStore(path)
    [result] = store.results()
    assert (result.run, result.answers, result.missed) == ("r", 1, 0)
    assert store.mode_results(MODE_003) == [] and store.survey_of("s") is None


# --- over HTTP ---


def _token(c, url="/quiz?mode=003") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(url).text).group(1)


def _answer(c, page) -> str:
    """Answers the page's question (positions 0 and 1); the page it sends the person to."""
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    qid = re.search(r'name="question" value="([^"]+)"', page.text).group(1)
    action = re.search(r'form method="post" action="([^"]+)"', page.text).group(1)
    form = {"csrf": token, "question": qid, "generated": ["0", "1"]}
    posted = c.post(action, data=form, headers=SAME_ORIGIN, follow_redirects=False)
    assert posted.status_code == 303
    return posted.headers["location"]


def test_the_questionnaire_flow_and_its_table(runs, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(runs / "cond", folder / "cond")
    preset_copy(runs / "uncond", folder / "nlvr-dcgan", "shapes-dcgan")
    with client(make_app(folder, tmp_path / "q.sqlite")) as c:
        start = c.get("/quiz?mode=003").text
        assert "Examples of" not in start and start.count('name="runs"') == 2
        form = {"csrf": _token(c), "mode": "003", "runs": ["nlvr-dcgan", "cond"]}
        r = c.post("/quiz/start", data=form, headers=SAME_ORIGIN, follow_redirects=False)
        assert r.status_code == 303
        url = r.headers["location"]
        for number in (1, 2):  # one question per run: two in all
            page = c.get(url, follow_redirects=True)
            assert f"Question {number} of 2" in page.text
            for panel in ("Examples of real images", "Examples of images generated by a computer"):
                assert panel in page.text
            assert page.text.count('src="data:image/png;base64,') == 2 * EXAMPLES_003
            assert page.text.count('name="generated"') == 4
            url = _answer(c, page)
        finished = c.get(url, follow_redirects=True).text
        quiz = c.app.state.services.quiz
        survey = quiz.survey(quiz.survey_of(url.split("/")[2].split("?")[0]))
        assert survey.current is None and [p.run for p in survey.parts] == ["nlvr-dcgan", "cond"]
        assert f"your error rate is <b>{100 * survey.error_rate:.2f}%</b>" in finished
        results = c.get("/results").text
        table_003 = results[results.index('id="table-003"') :]
        assert "<td>NLVR</td>" in table_003 and "003: 13.89%" in table_003
        assert '<table id="other-003">' in table_003 and "hinge" in table_003
        api = c.get("/api/quiz/results").json()["table_003"]
        [cell] = api["cells"]
        nlvr = survey.parts[0]
        assert (cell["dataset"], cell["model"], cell["answers"]) == ("NLVR", "DCGAN", 1)
        assert cell["missed"] == nlvr.missed and cell["error_rate"] == nlvr.error_rate
        assert cell["reported"] == 13.89 and [o["runs"] for o in api["other"]] == [["cond@4"]]


def test_too_many_questions_for_the_data_is_a_one_line_422(runs, tmp_path):
    folder = tmp_path / "runs"
    shutil.copytree(runs / "cond", folder / "cond")
    preset_copy(runs / "cond", folder / "small", "tiny", shapes_count=48)  # 8 test images
    with client(make_app(folder, tmp_path / "q.sqlite")) as c:
        api = c.post("/api/quiz/sessions", json={"run": "cond", "questions": 9})
        assert api.status_code == 422
        assert api.json()["detail"].endswith("- ask for at most 8")  # 16 real images
        assert c.post("/api/quiz/sessions", json={"run": "cond", "questions": 8}).is_success
        token = _token(c)
        posts = [
            ({"run": "small", "questions": "5"}, 422, "has 8 real images"),
            ({"mode": "003", "runs": ["cond", "small"]}, 422, "leave this run out"),
            ({"mode": "003", "runs": ["cond", "cond"]}, 422, "choose each run once"),
            ({"mode": "003", "runs": ["nope"]}, 404, "no run 'nope'"),
            ({"mode": "003", "listed": "1"}, 422, "tick at least one run"),
            ({"mode": "bogus", "run": "cond"}, 422, "mode must be"),
        ]
        for form, status, message in posts:
            r = c.post("/quiz/start", data={"csrf": token, **form}, headers=SAME_ORIGIN)
            assert r.status_code == status and message in r.json()["detail"], r.text
            assert "\n" not in r.json()["detail"]
        assert c.get("/quiz?mode=bogus").status_code == 422
        assert c.get("/quiz").text.count('href="/quiz?mode=003"') == 1


def test_every_ready_run_by_default(runs, tmp_path):
    with client(make_app(runs, tmp_path / "q.sqlite")) as c:
        form = {"csrf": _token(c), "mode": "003"}  # no runs ticked: every ready run
        r = c.post("/quiz/start", data=form, headers=SAME_ORIGIN, follow_redirects=False)
        sid = r.headers["location"].rsplit("/", 1)[1]
        quiz = c.app.state.services.quiz
        survey = quiz.survey(quiz.survey_of(sid))
    assert [p.run for p in survey.parts] == [s.id for s in quiz.catalog.ready()]
    assert all(p.questions == 1 for p in survey.parts)
