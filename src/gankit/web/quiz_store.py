"""The human test's answers store: sessions, questions, their images and answers, in SQLite.

Owns: the schema and every read and write of the answers database. The
database is in WAL mode (readers never wait for the writer); every write is
one ``BEGIN IMMEDIATE`` transaction (the write lock is taken before anything
is read, so check-then-write cannot race) and each connection waits up to
``busy_timeout_s`` for the lock. An answer is a column of its question's row
(one row per question id), set only while still empty: a retried answer can
never be stored twice. A database that stays locked, is read-only or fails
to write is ``Unavailable`` (503): nothing was changed and the client may
answer again. The truth (which positions are real) never leaves this module
before the question is answered. What counts as an answer, what it missed
and the error rate are the test's rules (``quiz``).

Document 003's mode adds tables and leaves the first three as they were: a
survey groups ordinary sessions (one per run) under a mode, and a question
of a survey keeps the example panels shown above it. Opening an older
database adds the empty tables, so its answers read as before.
"""

from __future__ import annotations

import csv
import io
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from gankit import faults
from gankit.errors import GankitError
from gankit.web.errors import Conflict, NotFound, Unavailable
from gankit.web.quiz import (
    POSITIONS,
    REAL,
    Answer,
    Examples,
    Question,
    Result,
    Session,
    Survey,
    check_marked,
    check_questions,
    generated_positions,
    missed_count,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, client TEXT NOT NULL, run TEXT NOT NULL, checkpoint INTEGER NOT NULL,
    questions INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS questions (
    id TEXT PRIMARY KEY, session TEXT NOT NULL REFERENCES sessions(id), number INTEGER NOT NULL,
    run TEXT NOT NULL, checkpoint INTEGER NOT NULL, real_positions TEXT NOT NULL,
    created REAL NOT NULL, answer TEXT, missed INTEGER, seconds REAL, answered REAL,
    UNIQUE (session, number));
CREATE TABLE IF NOT EXISTS images (
    token TEXT PRIMARY KEY, question TEXT NOT NULL REFERENCES questions(id),
    position INTEGER NOT NULL, source TEXT NOT NULL, png BLOB NOT NULL,
    UNIQUE (question, position));
"""
SCHEMA_SURVEYS = """
CREATE TABLE IF NOT EXISTS surveys (
    id TEXT PRIMARY KEY, mode TEXT NOT NULL, client TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS survey_parts (
    survey TEXT NOT NULL REFERENCES surveys(id), part INTEGER NOT NULL,
    session TEXT NOT NULL UNIQUE REFERENCES sessions(id), PRIMARY KEY (survey, part));
CREATE TABLE IF NOT EXISTS examples (
    question TEXT NOT NULL REFERENCES questions(id), panel TEXT NOT NULL,
    position INTEGER NOT NULL, source TEXT NOT NULL, png BLOB NOT NULL,
    PRIMARY KEY (question, panel, position));
"""


class QuizStore:
    """The answers database at ``path`` (created with its folder on first use)."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 5.0):
        self.path, self.busy_timeout_s = Path(path), busy_timeout_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._connect()
            try:
                con.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
                con.executescript(SCHEMA)
                con.executescript(SCHEMA_SURVEYS)  # also brings an older database up to date
                _check_writable(con)
            finally:
                con.close()
        except sqlite3.Error as e:
            raise GankitError(
                f"cannot use the answers database {self.path}: {e} - it (and its folder) must "
                "be writable and not held by another program, or pass --db another file"
            ) from None
        except OSError as e:
            raise GankitError(f"cannot create {self.path.parent}: {e.strerror or e}") from None

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE ones below.
        con = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        con.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_s * 1000)}")
        con.execute("PRAGMA foreign_keys=ON")
        # FULL: the WAL is synced at every commit, so an answer the client was told is saved
        # survives a power cut too (NORMAL survives a crash of this process, not of the
        # machine); one sync per answer is nothing at a person's pace.
        con.execute("PRAGMA synchronous=FULL")
        return con

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        try:
            con = self._connect()
            try:
                yield con
            finally:
                con.close()
        except sqlite3.OperationalError as e:
            raise self._unavailable(e) from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            con = self._connect()
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                con.close()
        except (sqlite3.OperationalError, OSError) as e:  # rolled back: nothing was changed
            raise self._unavailable(e) from None

    def _unavailable(self, error: Exception) -> Unavailable:
        """The one line a client sees when the database cannot be used just now."""
        text = str(error)
        if "locked" in text or "busy" in text:
            return Unavailable(
                f"the answers database is locked by another program (waited "
                f"{self.busy_timeout_s:g} s) - nothing was saved, try again in a moment"
            )
        if "readonly" in text or "read-only" in text:
            return Unavailable(
                f"the answers database {self.path} is read-only - nothing was saved; "
                "make it writable and try again"
            )
        return Unavailable(
            f"the answers database {self.path} cannot be used ({text}) - nothing was saved, "
            "try again"
        )

    # --- sessions and questions ---

    def start_session(self, run: str, checkpoint: int, questions: int, client: str = "") -> Session:
        check_questions(questions)
        sid = secrets.token_urlsafe(12)
        with self._write() as con:
            con.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
                (sid, client, run, checkpoint, questions, time.time()),
            )
        return self.session(sid)

    def session(self, sid: str) -> Session:
        with self._read() as con:
            row = con.execute(
                "SELECT s.run, s.checkpoint, s.questions, COUNT(q.id), COUNT(q.answer), "
                "COALESCE(SUM(q.missed), 0) FROM sessions s LEFT JOIN questions q "
                "ON q.session = s.id WHERE s.id = ? GROUP BY s.id",
                (sid,),
            ).fetchone()
        if row is None:
            raise NotFound(f"no test session {sid[:40]!r} - start one on the test page")
        return Session(sid, *row)

    def open_question(self, sid: str) -> Question | None:
        """The session's question that is shown but not answered yet, if any."""
        with self._read() as con:
            return _open_question(con, sid)

    def add_question(
        self, sid: str, pngs: Sequence[bytes], real_positions: Sequence[int], sources: Sequence[str]
    ) -> Question:
        """Stores the session's next question; if one is already open (a race), returns that."""
        assert len(pngs) == len(sources) == POSITIONS and len(real_positions) == REAL
        with self._write() as con:
            session = con.execute(
                "SELECT run, checkpoint, questions FROM sessions WHERE id = ?", (sid,)
            ).fetchone()
            if session is None:
                raise NotFound(f"no test session {sid[:40]!r}")
            existing = _open_question(con, sid)
            if existing is not None:
                return existing
            asked = con.execute("SELECT COUNT(*) FROM questions WHERE session = ?", (sid,))
            number = asked.fetchone()[0] + 1
            if number > session[2]:
                raise Conflict(f"this session's {session[2]} questions are all answered")
            qid = secrets.token_urlsafe(12)
            con.execute(
                "INSERT INTO questions (id, session, number, run, checkpoint, real_positions, "
                "created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (qid, sid, number, session[0], session[1], _join(real_positions), time.time()),
            )
            tokens = [secrets.token_urlsafe(16) for _ in pngs]
            con.executemany(
                "INSERT INTO images VALUES (?, ?, ?, ?, ?)",
                [(t, qid, k, s, p) for k, (t, s, p) in enumerate(zip(tokens, sources, pngs))],
            )
        return Question(qid, sid, number, tokens)

    def image(self, token: str) -> bytes:
        with self._read() as con:
            row = con.execute("SELECT png FROM images WHERE token = ?", (token,)).fetchone()
        if row is None:
            raise NotFound("no such image")
        return row[0]

    def answer(self, qid: str, marked: Sequence[int], session: str | None = None) -> Answer:
        """Records the positions marked as generated; a question is answered once (else 409)."""
        marked = check_marked(marked)
        with self._write() as con:
            row = con.execute(
                "SELECT session, real_positions, created, answer FROM questions WHERE id = ?",
                (qid,),
            ).fetchone()
            if row is None or (session is not None and row[0] != session):
                raise NotFound(f"no question {qid[:40]!r} in this session")
            if row[3] is not None:
                raise Conflict("this question is already answered - answers cannot be changed")
            generated = generated_positions(_split(row[1]))
            missed = missed_count(generated, marked)
            now = time.time()
            seconds = round(now - row[2], 3)
            con.execute(
                "UPDATE questions SET answer = ?, missed = ?, seconds = ?, answered = ? "
                "WHERE id = ? AND answer IS NULL",
                (_join(marked), missed, seconds, now, qid),
            )
            done = con.execute(
                "SELECT COUNT(q.answer) >= s.questions FROM sessions s JOIN questions q "
                "ON q.session = s.id WHERE s.id = ?",
                (row[0],),
            ).fetchone()[0]
            faults.point("quiz.commit")  # the answer written, its transaction not committed
        return Answer(qid, row[0], generated, marked, missed, seconds, bool(done))

    # --- results ---

    def results(self) -> list[Result]:
        """Per run and checkpoint: answers, generated images shown and missed, the error rate."""
        with self._read() as con:
            rows = con.execute(
                "SELECT run, checkpoint, COUNT(*), COUNT(DISTINCT session), SUM(missed) "
                "FROM questions WHERE answer IS NOT NULL GROUP BY run, checkpoint "
                "ORDER BY run, checkpoint"
            ).fetchall()
        return [Result.of(*row) for row in rows]

    def answers_csv(self) -> str:
        """Every answered question, one CSV row each (times in UTC, ISO 8601)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["session", "question", "number", "run", "checkpoint", "real_positions",
             "generated_positions", "marked_positions", "missed", "seconds", "answered_utc"]
        )  # fmt: skip
        with self._read() as con:
            rows = con.execute(
                "SELECT session, id, number, run, checkpoint, real_positions, answer, missed, "
                "seconds, answered FROM questions WHERE answer IS NOT NULL ORDER BY answered, rowid"
            )
            for s, q, n, run, ckpt, real, marked, missed, seconds, answered in rows:
                generated = generated_positions(_split(real))
                writer.writerow(
                    [s, q, n, run, ckpt, real.replace(",", " "), _join(generated, " "),
                     marked.replace(",", " "), missed, seconds, _utc(answered)]
                )  # fmt: skip
        return out.getvalue()

    def counts(self) -> dict[str, int]:
        """Row counts, for checks: sessions, questions, answered, images."""
        with self._read() as con:
            one = lambda sql: con.execute(sql).fetchone()[0]
            return {
                "sessions": one("SELECT COUNT(*) FROM sessions"),
                "questions": one("SELECT COUNT(*) FROM questions"),
                "answered": one("SELECT COUNT(*) FROM questions WHERE answer IS NOT NULL"),
                "images": one("SELECT COUNT(*) FROM images"),
            }

    # --- document 003's surveys ---

    def start_survey(
        self, mode: str, parts: Sequence[tuple[str, int]], questions: int, client: str = ""
    ) -> Survey:
        """A survey of one session per (run, checkpoint) in ``parts``, in that order."""
        check_questions(questions)
        survey, now = secrets.token_urlsafe(12), time.time()
        sids = [secrets.token_urlsafe(12) for _ in parts]
        with self._write() as con:
            con.execute("INSERT INTO surveys VALUES (?, ?, ?, ?)", (survey, mode, client, now))
            for number, (sid, (run, checkpoint)) in enumerate(zip(sids, parts), start=1):
                con.execute(
                    "INSERT INTO sessions (id, client, run, checkpoint, questions, created) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (sid, client, run, checkpoint, questions, now),
                )
                con.execute("INSERT INTO survey_parts VALUES (?, ?, ?)", (survey, number, sid))
        return self.survey(survey)

    def survey(self, survey: str) -> Survey:
        with self._read() as con:
            row = con.execute("SELECT mode FROM surveys WHERE id = ?", (survey,)).fetchone()
            sids = con.execute(
                "SELECT session FROM survey_parts WHERE survey = ? ORDER BY part", (survey,)
            ).fetchall()
        if row is None:
            raise NotFound(f"no survey {survey[:40]!r} - start one on the test page")
        return Survey(survey, row[0], [self.session(sid) for (sid,) in sids])

    def survey_of(self, sid: str) -> str | None:
        """The survey holding session ``sid``, if any."""
        with self._read() as con:
            row = con.execute("SELECT survey FROM survey_parts WHERE session = ?", (sid,))
            found = row.fetchone()
        return None if found is None else found[0]

    def add_examples(self, qid: str, examples: Examples) -> None:
        """Keeps the panels shown above question ``qid``; a question keeps its first ones."""
        panels = [("real", png) for png in examples.real]
        panels += [("generated", png) for png in examples.generated]
        rows = [
            (qid, panel, k, source, png)
            for k, ((panel, png), source) in enumerate(zip(panels, examples.sources))
        ]
        with self._write() as con:
            if con.execute("SELECT 1 FROM examples WHERE question = ?", (qid,)).fetchone():
                return  # a racing request stored its panels first: the question keeps those
            con.executemany("INSERT INTO examples VALUES (?, ?, ?, ?, ?)", rows)

    def examples(self, qid: str) -> Examples | None:
        """The panels shown above question ``qid`` (None when it was asked without)."""
        with self._read() as con:
            rows = con.execute(
                "SELECT panel, source, png FROM examples WHERE question = ? ORDER BY position",
                (qid,),
            ).fetchall()
        if not rows:
            return None
        real = [png for panel, _, png in rows if panel == "real"]
        generated = [png for panel, _, png in rows if panel == "generated"]
        return Examples(real, generated, [source for _, source, _ in rows])

    def mode_results(self, mode: str) -> list[Result]:
        """``results()`` over the answers given in surveys of ``mode`` only."""
        with self._read() as con:
            rows = con.execute(
                "SELECT q.run, q.checkpoint, COUNT(*), COUNT(DISTINCT q.session), SUM(q.missed) "
                "FROM questions q JOIN survey_parts p ON p.session = q.session "
                "JOIN surveys s ON s.id = p.survey "
                "WHERE q.answer IS NOT NULL AND s.mode = ? GROUP BY q.run, q.checkpoint "
                "ORDER BY q.run, q.checkpoint",
                (mode,),
            ).fetchall()
        return [Result.of(*row) for row in rows]


def _check_writable(con: sqlite3.Connection) -> None:
    """Raises ``sqlite3.OperationalError`` unless this connection may write (a read-only file
    opens and reads fine; only its first write fails)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        con.execute(f"PRAGMA user_version = {int(version)}")  # a write that changes nothing
    finally:
        con.execute("ROLLBACK")


def _open_question(con: sqlite3.Connection, sid: str) -> Question | None:
    row = con.execute(
        "SELECT id, number FROM questions WHERE session = ? AND answer IS NULL", (sid,)
    ).fetchone()
    if row is None:
        return None
    tokens = con.execute(
        "SELECT token FROM images WHERE question = ? ORDER BY position", (row[0],)
    ).fetchall()
    return Question(row[0], sid, row[1], [t for (t,) in tokens])


def _join(values: Sequence[int], sep: str = ",") -> str:
    return sep.join(str(int(v)) for v in values)


def _split(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")
