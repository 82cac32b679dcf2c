"""The human test's pages: start a session, answer its questions, and the results.

Owns: the HTML and the form posts of the test. Form posts must come from
these pages: same origin (``Origin`` or ``Sec-Fetch-Site``) and a CSRF token
bound to the browser's cookie; then they redirect (303) to the next page.
Sessions, questions and the statistic are the test's rules (``quiz``).
"""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from gankit.web.errors import Unprocessable
from gankit.web.pages import e, layout, options
from gankit.web.params import DEFAULT_QUESTIONS, MAX_QUESTIONS, Id, RunChoice
from gankit.web.quiz import DEFINITION, GENERATED, POSITIONS, Session, reference_003
from gankit.web.security import read_form, require_same_origin, set_client_cookie
from gankit.web.services import services

router = APIRouter(include_in_schema=False)


def _token_field(request: Request, response_body: str):
    """(the page's body with the form token filled in, the client id to set as a cookie or None)."""
    client, new = services(request).csrf.client(request)
    token = services(request).csrf.token(client)
    body = response_body.replace("CSRF_TOKEN", e(token))
    return body, client if new else None


def _with_cookie(response, client: str | None):
    if client is not None:
        set_client_cookie(response, client)
    return response


async def _checked_form(request: Request) -> tuple[dict[str, list[str]], str]:
    """The posted form and the client id, after the same-origin and token checks."""
    require_same_origin(request)
    form = await read_form(request)
    client = services(request).csrf.check(request, _one(form, "csrf"))
    return form, client


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name, [])
    return values[0] if len(values) == 1 else ""


@router.get("/quiz", response_class=HTMLResponse)
def quiz_start_page(request: Request, run: RunChoice = ""):
    ready = services(request).catalog.ready()
    choices = [("", "any run (chosen for you)")] + [(r.id, r.id) for r in ready]
    body = (
        "<h1>Which two are generated?</h1><p>Each question shows four images: two real ones "
        "from the run's dataset and two made by its generator, in random order. Click the two "
        "you think are generated, then submit. Each answer counts once.</p>"
        '<form method="post" action="/quiz/start" class="row">'
        '<input type="hidden" name="csrf" value="CSRF_TOKEN">'
        f'<label>run <select name="run">{options(choices, run)}</select></label>'
        '<label>checkpoint <input name="checkpoint" value="latest" size="8"></label>'
        f'<label>questions <input type="number" name="questions" min="1" max="{MAX_QUESTIONS}" '
        f'value="{DEFAULT_QUESTIONS}"></label><button type="submit" id="start">Start</button></form>'
    )
    body, client = _token_field(request, body)
    return _with_cookie(layout("Human test", body), client)


@router.post("/quiz/start")
async def quiz_start(request: Request):
    form, client = await _checked_form(request)
    try:
        questions = int(_one(form, "questions") or DEFAULT_QUESTIONS)
    except ValueError:
        raise Unprocessable("questions must be a whole number") from None
    checkpoint = _one(form, "checkpoint").strip() or "latest"
    job = (_one(form, "run"), checkpoint, questions, client)
    session = await run_in_threadpool(services(request).quiz.start, *job)  # may wait for the lock
    return RedirectResponse(f"/quiz/{session.id}", status_code=303)


@router.get("/quiz/{sid}", response_class=HTMLResponse)
async def quiz_question_page(
    request: Request, sid: Id, found: int | None = Query(None, ge=0, le=GENERATED)
):
    quiz = services(request).quiz
    session = await run_in_threadpool(quiz.session, sid)
    last = ""
    if found is not None:
        last = f"<p>Last question: you found {found} of the {GENERATED} generated.</p>"
    if session.done:
        return layout("Test finished", last + _finished(session))
    question, _ = await quiz.next_question(sid)
    images = "".join(
        f'<label class="choice"><input type="checkbox" name="generated" value="{k}">'
        f'<img class="px" src="/api/quiz/images/{e(token)}.png" alt="image {k + 1}"></label>'
        for k, token in enumerate(question.images)
    )
    body = (
        f"<h1>Question {question.number} of {session.questions}</h1>{last}"
        "<p>Click the <b>two generated</b> images.</p>"
        f'<form method="post" action="/quiz/{e(sid)}/answer" id="answer">'
        f'<input type="hidden" name="csrf" value="CSRF_TOKEN">'
        f'<input type="hidden" name="question" value="{e(question.id)}">'
        f'<div class="choices">{images}</div>'
        '<p><button type="submit" id="submit" disabled>These two are generated</button></p></form>'
    )
    body, client = _token_field(request, body)
    return _with_cookie(layout(f"Question {question.number}", body, QUESTION_JS), client)


QUESTION_JS = (
    f"const GENERATED = {GENERATED};"
    + """
const boxes = [...document.querySelectorAll('input[name=generated]')];
const submit = document.getElementById('submit');
boxes.forEach((b) => b.addEventListener('change', () => {
  const marked = boxes.filter((x) => x.checked);
  if (marked.length > GENERATED) b.checked = false;  // no more: the newest click is undone
  submit.disabled = boxes.filter((x) => x.checked).length !== GENERATED;
}));
"""
)


def _finished(session: Session) -> str:
    return (
        f"<h1>Thank you</h1><p>You answered {session.answered} questions on run "
        f"<b>{e(session.run)}</b> (step {session.checkpoint:,}). You missed {session.missed} "
        f"of the {session.generated_shown} generated images: your error rate is "
        f"<b>{100 * session.error_rate:.2f}%</b>.</p>"
        '<p><a href="/results">All results</a> · <a href="/quiz">Take another test</a></p>'
    )


@router.post("/quiz/{sid}/answer")
async def quiz_answer(request: Request, sid: Id):
    form, _ = await _checked_form(request)
    try:
        marked = [int(v) for v in form.get("generated", [])]
    except ValueError:
        raise Unprocessable(f"positions are whole numbers 0-{POSITIONS - 1}") from None
    job = (_one(form, "question"), marked, sid)
    answer = await run_in_threadpool(services(request).quiz.answer, *job)
    return RedirectResponse(f"/quiz/{answer.session}?found={answer.found}", status_code=303)


@router.get("/results", response_class=HTMLResponse)
def results_page(request: Request):
    rows = "".join(
        f"<tr><td>{e(r.run)}</td><td>{r.checkpoint:,}</td><td>{r.answers}</td>"
        f"<td>{r.sessions}</td><td>{r.missed} / {r.generated_shown}</td>"
        f'<td class="rate">{100 * r.error_rate:.2f}%</td>'
        f"<td>{100 * r.ci_low:.2f}% - {100 * r.ci_high:.2f}%</td></tr>"
        for r in services(request).quiz.results()
    )
    if not rows:
        rows = '<tr><td colspan="7" class="muted">no answers yet</td></tr>'
    body = (
        "<h1>Human test results</h1>"
        f"<p>{e(DEFINITION)}. 50% would mean the generated images cannot be told apart "
        f"from real ones; seed 003 reported up to {_highest(reference_003()):.2f}%.</p>"
        '<h2>gankit</h2><table id="results"><tr><th>run</th><th>checkpoint</th>'
        "<th>answers</th><th>sessions</th><th>missed / generated shown</th>"
        f"<th>human error rate</th><th>95% interval</th></tr>{rows}</table>"
        '<p><a href="/api/quiz/answers.csv">Download every answer (CSV)</a> · '
        '<a href="/api/quiz/results">as JSON</a></p>'
        "<h2>Seed 003's reported human error rates</h2>" + _reference_table(reference_003())
    )
    return layout("Results", body)


def _highest(reference: dict[str, dict[str, float]]) -> float:
    return max(rate for rates in reference.values() for rate in rates.values())


def _reference_table(reference: dict[str, dict[str, float]]) -> str:
    """Model rows, dataset columns (every model has a rate on every dataset)."""
    datasets = next(iter(reference.values()))
    head = "<tr><th>model</th>" + "".join(f"<th>{e(name)}</th>" for name in datasets) + "</tr>"
    rows = "".join(
        f"<tr><td>{e(model)}</td>"
        + "".join(f"<td>{rates[d]:.2f}%</td>" for d in datasets)
        + "</tr>"
        for model, rates in reference.items()
    )
    return f"<table>{head}{rows}</table>"
