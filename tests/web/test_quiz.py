"""The human test: the SQLite store, its statistic, the API and page flows, concurrency."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gankit.reproduce import find_document
from gankit.web.errors import Conflict, NotFound, Unprocessable
from gankit.web.quiz import Result, check_marked, error_rate, reference_003, wilson
from gankit.web.quiz_store import QuizStore
from tests.web.support import SAME_ORIGIN, client, live_server, make_app, tiny_runs

PNGS = [b"png0", b"png1", b"png2", b"png3"]
SOURCES = ["real", "generated", "real", "generated"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


@pytest.fixture
def store(tmp_path):
    return QuizStore(tmp_path / "answers.sqlite")


def _question(store, sid, real=(0, 2)):
    return store.add_question(sid, PNGS, real, SOURCES)


def test_wilson_interval_matches_known_values():
    low, high = wilson(2, 36)  # seed 003's MNIST GAN: 5.56% of 36 generated images
    # The Wilson bounds are the roots of n (p_hat - p)^2 = z^2 p (1 - p).
    for bound in (low, high):
        assert 36 * (2 / 36 - bound) ** 2 == pytest.approx(1.959964**2 * bound * (1 - bound))
    assert round(low, 4) == 0.0154 and low < 2 / 36 < high
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize("marked", [[0], [0, 1, 2], [1, 1], [0, 4], [-1, 2], [True, 2]])
def test_marked_positions_must_be_two_distinct_of_four(marked):
    with pytest.raises(Unprocessable):
        check_marked(marked)


def test_store_is_wal_and_the_truth_decides_missed(store):
    with sqlite3.connect(store.path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    session = store.start_session("cond", 4, 2)
    q = _question(store, session.id, real=(0, 2))
    assert store.open_question(session.id) == q  # asked again: the same question
    assert _question(store, session.id) == q  # a racing second request gets it too
    assert store.image(q.images[1]) == b"png1"
    answer = store.answer(q.id, [1, 3])
    assert answer.missed == 0 and answer.generated_positions == [1, 3] and not answer.session_done
    with pytest.raises(Conflict, match="already answered"):
        store.answer(q.id, [0, 1])
    q2 = _question(store, session.id, real=(2, 3))
    assert q2.number == 2 and store.answer(q2.id, [1, 2]).missed == 1
    with pytest.raises(Conflict, match="all answered"):
        _question(store, session.id)
    done = store.session(session.id)
    assert done.done and done.answered == 2 and done.missed == 1
    [result] = store.results()
    assert (result.run, result.checkpoint, result.answers, result.generated_shown) == (
        "cond",
        4,
        2,
        4,
    )
    assert result.error_rate == 0.25 and result.ci_low < 0.25 < result.ci_high


def test_unknown_ids_and_wrong_session(store):
    s1, s2 = store.start_session("a", 2, 1), store.start_session("a", 2, 1)
    q = _question(store, s1.id)
    with pytest.raises(NotFound):
        store.answer(q.id, [0, 1], session=s2.id)
    with pytest.raises(NotFound):
        store.answer("nope", [0, 1])
    with pytest.raises(NotFound):
        store.session("nope")
    with pytest.raises(NotFound):
        store.image("nope")
    with pytest.raises(Unprocessable):
        store.start_session("a", 2, 51)


def test_csv_has_every_answer(store):
    for real in [(0, 1), (2, 3), (1, 2)]:
        sid = store.start_session("r", 2, 1).id
        store.answer(_question(store, sid, real).id, [0, 1])
    rows = list(csv.DictReader(io.StringIO(store.answers_csv())))
    assert len(rows) == 3
    assert [r["missed"] for r in rows] == ["2", "0", "1"]
    assert rows[1]["generated_positions"] == "0 1" and rows[1]["marked_positions"] == "0 1"
    assert float(rows[0]["seconds"]) >= 0 and rows[0]["answered_utc"].endswith("+00:00")


@pytest.mark.slow  # 50 client threads
def test_fifty_concurrent_answers_keep_the_database_consistent(runs, tmp_path):
    """50 questions, each answered by two clients at once over HTTP: exactly one wins."""
    app = make_app(runs, tmp_path / "q.sqlite")
    store = app.state.services.quiz.store
    questions = []
    for _ in range(50):
        sid = store.start_session("cond", 4, 1).id
        questions.append(_question(store, sid, real=(0, 1)))
    with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:

        def post(q):
            return http.post(f"/api/quiz/questions/{q.id}/answer", json={"generated": [0, 2]})

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = [r.status_code for r in pool.map(post, questions + questions)]
    assert statuses.count(200) == 50 and statuses.count(409) == 50
    assert store.counts() == {"sessions": 50, "questions": 50, "answered": 50, "images": 200}
    [result] = store.results()
    assert (result.answers, result.sessions, result.missed) == (50, 50, 50)  # 1 of 2 each
    assert len(store.answers_csv().splitlines()) == 51


def test_api_flow_and_its_bad_inputs(runs, tmp_path):
    with client(make_app(runs, tmp_path / "q.sqlite")) as c:
        session = c.post("/api/quiz/sessions", json={"run": "uncond", "questions": 1}).json()
        assert session["checkpoint"] == 4 and session["asked"] == 0
        url = f"/api/quiz/sessions/{session['id']}/question"
        q = c.post(url).json()
        assert c.post(url).json()["id"] == q["id"]  # open question: the same one
        image = c.get(q["images"][0])
        assert image.headers["content-type"] == "image/png" and image.content[:4] == b"\x89PNG"
        bad = [
            ({"generated": [0, 4]}, 422),
            ({"generated": [1, 1]}, 422),
            ({"generated": [0]}, 422),
            ({"generated": ["a", 1]}, 422),
            ({}, 422),
        ]
        for body, status in bad:
            assert c.post(q["answer_url"], json=body).status_code == status
        assert c.post(q["answer_url"], content=b"{", headers=_json()).status_code == 422
        plain = {"content-type": "text/plain"}
        assert (
            c.post(q["answer_url"], content=b'{"generated":[0,1]}', headers=plain).status_code
            == 415
        )
        first = c.post(q["answer_url"], json={"generated": [0, 1]})
        assert first.status_code == 200 and first.json()["session_done"]
        again = c.post(q["answer_url"], json={"generated": [2, 3]})
        assert again.status_code == 409 and "already answered" in again.json()["detail"]
        assert c.post(url).status_code == 409  # the session is complete
        assert c.get(f"/api/quiz/sessions/{session['id']}").json()["done"]
        for path, status in [
            ("/api/quiz/sessions/nope", 404),
            ("/api/quiz/sessions/..", 404),
            ("/api/quiz/images/nope.png", 404),
        ]:
            assert c.get(path).status_code == status
        assert (
            c.post("/api/quiz/questions/nope/answer", json={"generated": [0, 1]}).status_code == 404
        )
        for body in ({"run": "nope"}, {"run": "cond", "checkpoint": "9"}, {"run": "empty"}):
            assert c.post("/api/quiz/sessions", json=body).status_code == 404
        assert c.post("/api/quiz/sessions", json={"questions": 0}).status_code == 422
        results = c.get("/api/quiz/results").json()
        assert results["results"][0]["run"] == "uncond" and results["results"][0]["answers"] == 1
        assert results["reference_003"]["WGAN-GP"]["MNIST"] == 72.22
        assert c.get("/api/quiz/answers.csv").headers["content-type"].startswith("text/csv")


def _json():
    return {"content-type": "application/json"}


def test_page_flow_with_forms(runs, tmp_path):
    with client(make_app(runs, tmp_path / "q.sqlite")) as c:
        start = c.get("/quiz?run=cond")
        token = re.search(r'name="csrf" value="([^"]+)"', start.text).group(1)
        form = {"csrf": token, "run": "cond", "checkpoint": "2", "questions": "2"}
        r = c.post("/quiz/start", data=form, headers=SAME_ORIGIN, follow_redirects=False)
        assert r.status_code == 303
        page_url = r.headers["location"]
        for number in (1, 2):
            page = c.get(page_url)
            assert f"Question {number} of 2" in page.text and page.text.count("<img") == 4
            qid = re.search(r'name="question" value="([^"]+)"', page.text).group(1)
            answer = {"csrf": token, "question": qid, "generated": ["0", "3"]}
            posted = c.post(f"{page_url}/answer", data=answer, headers=SAME_ORIGIN)
            assert posted.status_code == 200  # followed the 303
            twice = c.post(
                f"{page_url}/answer", data=answer, headers=SAME_ORIGIN, follow_redirects=False
            )
            assert twice.status_code == 409
        assert "Thank you" in c.get(page_url).text
        results = c.get("/results").text
        assert "cond" in results and "72.22%" in results and "answers.csv" in results
        bad = {"csrf": token, "question": qid, "generated": ["x", "1"]}
        assert c.post(f"{page_url}/answer", data=bad, headers=SAME_ORIGIN).status_code == 422


def test_seed_003_rates_are_the_reproduction_catalogues(runs, tmp_path):
    """The web shows the one table of seed 003's rates, under its questionnaire's names."""
    reference = reference_003()
    experiments = find_document("003").experiments
    assert sum(len(rates) for rates in reference.values()) == len(experiments) == 12
    shown = sorted(rate for rates in reference.values() for rate in rates.values())
    assert shown == sorted(e.reported["human_error_rate"] for e in experiments)
    assert list(reference) == ["GAN", "DCGAN", "WGAN", "WGAN-GP"]
    assert reference["DCGAN"] == {"MNIST": 44.44, "NLVR": 13.89, "flowers": 27.78}
    with client(make_app(runs, tmp_path / "q.sqlite")) as c:
        page = c.get("/results").text
    assert all(f"<td>{rate:.2f}%</td>" in page for rate in shown)
    assert f"reported up to {max(shown):.2f}%" in page


def test_one_error_rate_for_a_session_and_its_results(store):
    session = store.start_session("r", 2, 3)
    assert session.error_rate is None and session.generated_shown == 0
    for real, marked in [((0, 1), [2, 3]), ((0, 1), [0, 2])]:  # found 2, then 1
        answer = store.answer(_question(store, session.id, real).id, marked)
    assert answer.found == 1 and answer.missed == 1
    session, [result] = store.session(session.id), store.results()
    assert session.generated_shown == result.generated_shown == 4
    assert session.error_rate == result.error_rate == error_rate(1, 2) == 0.25
    assert Result.of("r", 2, 2, 1, 1) == result
