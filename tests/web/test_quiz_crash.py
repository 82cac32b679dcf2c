"""The answers database under failure: locked by another program, read-only, a failing
commit, and a server killed with SIGKILL while 50 people answer."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from gankit import faults
from gankit.cli import main
from tests.web.support import client, make_app, serve_process, tiny_runs

CLIENTS = 50
QUESTIONS = 4  # per client
KILL_AFTER = 60  # acknowledged answers before the kill: mid-way through the 200


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


@contextmanager
def read_only(path: Path):
    """``path`` read-only while inside: mode 444, and immutable when we are root (root
    writes through file modes); skipped where neither can hold."""
    mode = path.stat().st_mode
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    try:
        if immutable:
            chattr = shutil.which("chattr")
            done = chattr and subprocess.run(
                [chattr, "+i", str(path)], capture_output=True, check=False
            )
            if not done or done.returncode != 0:
                immutable = False
                pytest.skip("running as root without chattr +i: cannot make a file read-only")
        yield path
    finally:
        if immutable:
            subprocess.run([shutil.which("chattr"), "-i", str(path)], check=True)
        path.chmod(mode)


def _question(c) -> tuple[str, str]:
    """A new one-question session and its question, through the API: (session, answer url)."""
    session = c.post("/api/quiz/sessions", json={"run": "cond", "questions": 1}).json()
    question = c.post(f"/api/quiz/sessions/{session['id']}/question").json()
    return session["id"], question["answer_url"]


def _still_working(c, sid: str) -> None:
    assert c.get("/api/runs").status_code == 200
    assert c.get("/api/runs/cond/generate.png?count=2").status_code == 200
    assert c.get(f"/api/quiz/sessions/{sid}").status_code == 200  # reads go on


def test_a_locked_database_waits_briefly_then_answers_503_and_loses_nothing(runs, tmp_path):
    db = tmp_path / "q.sqlite"
    app = make_app(runs, db)
    store = app.state.services.quiz.store
    store.busy_timeout_s = 0.5
    with client(app) as c:
        sid, url = _question(c)
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another program holds the write lock
        try:
            start = time.monotonic()
            r = c.post(url, json={"generated": [0, 1]})
            assert time.monotonic() - start >= 0.5  # it waited for the lock first
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert "locked by another program" in r.json()["detail"]
            _still_working(c, sid)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert c.post(url, json={"generated": [0, 1]}).status_code == 200  # answered again
    assert store.counts()["answered"] == 1


def test_a_read_only_database_answers_503_and_the_rest_of_the_app_works(runs, tmp_path):
    db = tmp_path / "q.sqlite"
    app = make_app(runs, db)
    store = app.state.services.quiz.store
    with client(app) as c:
        sid, url = _question(c)
        with read_only(db):
            r = c.post(url, json={"generated": [0, 1]})
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            assert r.json()["detail"] == (
                f"the answers database {db} is read-only - nothing was saved; "
                "make it writable and try again"
            )
            _still_working(c, sid)
        assert c.post(url, json={"generated": [0, 1]}).status_code == 200
    assert store.counts()["answered"] == 1


def test_serve_with_a_read_only_database_is_one_line_and_a_failure(runs, tmp_path, capsys):
    db = tmp_path / "q.sqlite"
    make_app(runs, db)  # the database exists, with its tables
    with read_only(db):
        code = main(["serve", str(runs), "--db", str(db), "--port", "0"])
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1, err
    assert err.startswith(f"gankit: error: cannot use the answers database {db}: attempt to write")


def test_a_failing_commit_keeps_nothing_and_the_answer_can_be_given_again(
    runs, tmp_path, monkeypatch
):
    app = make_app(runs, tmp_path / "q.sqlite")
    store = app.state.services.quiz.store
    with client(app) as c:
        _, url = _question(c)
        monkeypatch.setenv(faults.ENV, "quiz.commit:eio:1")  # the first commit fails
        faults.reset()
        try:
            r = c.post(url, json={"generated": [0, 1]})
            assert r.status_code == 503 and "nothing was saved" in r.json()["detail"]
            assert store.counts()["answered"] == 0  # rolled back
            assert c.post(url, json={"generated": [0, 1]}).status_code == 200
            assert c.post(url, json={"generated": [0, 1]}).status_code == 409  # once only
        finally:
            monkeypatch.delenv(faults.ENV)
            faults.reset()
    assert store.counts()["answered"] == 1


# --- kill -9 while 50 people answer ---


@dataclass
class Person:
    """What one client was told: answers acknowledged (2xx), and the one sent but unanswered."""

    seed: int
    acknowledged: dict[str, str] = field(default_factory=dict)  # question id -> "a,b"
    in_flight: tuple[str, str, list[int]] | None = None  # (question id, url, marked)
    unexpected: str | None = None  # anything but success or a dead server


def _post(http: httpx.Client, url: str, body: dict | None = None) -> httpx.Response:
    """POST, again while the server answers 503 (it says when: Retry-After)."""
    while True:
        r = http.post(url, json=body)
        if r.status_code != 503:
            return r.raise_for_status()
        time.sleep(0.05)


def take_test(base: str, person: Person) -> None:
    """One person: a session of QUESTIONS questions, each answered; stops when the server dies."""
    rng = random.Random(person.seed)
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            body = {"run": "cond", "questions": QUESTIONS}
            sid = _post(http, "/api/quiz/sessions", body).json()["id"]
            for _ in range(QUESTIONS):
                question = _post(http, f"/api/quiz/sessions/{sid}/question").json()
                marked = sorted(rng.sample(range(4), 2))
                person.in_flight = (question["id"], question["answer_url"], marked)
                _post(http, question["answer_url"], {"generated": marked})
                person.acknowledged[question["id"]] = ",".join(map(str, marked))
                person.in_flight = None
    except httpx.TransportError:  # the server was killed under this request
        pass
    except httpx.HTTPStatusError as e:  # threads cannot fail the test: the test looks here
        person.unexpected = f"{e.response.status_code} {e.response.text}"


def _answers(db: Path) -> dict[str, list[str]]:
    """Question id -> every answer the database holds for it."""
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT id, answer FROM questions WHERE answer IS NOT NULL")
        answers: dict[str, list[str]] = {}
        for qid, answer in rows:
            answers.setdefault(qid, []).append(answer)
    return answers


@pytest.mark.slow  # two server processes, 50 client threads
@pytest.mark.parametrize("kill", ["external", "at-commit"])
def test_answers_survive_kill_9_with_50_clients(runs, tmp_path, kill):
    """Every answer acknowledged before the kill is in the database after it, exactly once;
    an answer cut off by the kill, sent again, is stored (200) or was already (409)."""
    db = tmp_path / "q.sqlite"
    # at-commit: the server kills itself between an answer's write and its commit.
    env = {faults.ENV: f"quiz.commit:kill:{KILL_AFTER}"} if kill == "at-commit" else None
    people = [Person(seed) for seed in range(CLIENTS)]
    with serve_process(runs, db, env) as (proc, base):
        threads = [threading.Thread(target=take_test, args=(base, p)) for p in people]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while sum(len(p.acknowledged) for p in people) < KILL_AFTER and proc.poll() is None:
            assert time.monotonic() < deadline, "the clients made no progress"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)  # at-commit: already dead, or about to be
        for thread in threads:
            thread.join(timeout=60)
    assert [p.unexpected for p in people if p.unexpected] == []
    acknowledged = {q: a for p in people for q, a in p.acknowledged.items()}
    cut_off = [p.in_flight for p in people if p.in_flight is not None]
    assert KILL_AFTER // 2 <= len(acknowledged) < CLIENTS * QUESTIONS  # killed mid-way

    with serve_process(runs, db) as (proc, base):
        stored = _answers(db)
        assert all(stored.get(q) == [a] for q, a in acknowledged.items())  # each kept, once
        statuses = [
            httpx.post(base + url, json={"generated": marked}, timeout=30).status_code
            for _, url, marked in cut_off
        ]
        assert set(statuses) <= {200, 409}, statuses
    stored = _answers(db)
    assert all(len(answers) == 1 for answers in stored.values())
    assert set(stored) == set(acknowledged) | {qid for qid, _, _ in cut_off}
    print(
        f"quiz answers kept ({kill} kill): {len(acknowledged)} of {len(acknowledged)} 2xx "
        f"answers after kill -9 with {CLIENTS} clients; {len(cut_off)} cut off, sent again: "
        f"{statuses.count(200)} stored then, {statuses.count(409)} stored before the kill"
    )
