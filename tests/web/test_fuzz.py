"""Property-based fuzz of the API: random ids, numbers, strings and JSON never make a 500."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.web.support import client, make_app, tiny_runs

# Path templates of every API route ({} = a path parameter).
GETS = [
    "/api/runs/{}",
    "/api/runs/{}/generate",
    "/api/runs/{}/generate.png",
    "/api/runs/{}/interpolate",
    "/api/runs/{}/samples/{}.png",
    "/api/runs/{}/losses.png",
    "/api/runs/{}/report.html",
    "/api/quiz/sessions/{}",
    "/api/quiz/images/{}.png",
    "/generate",
    "/runs/{}",
    "/quiz/{}",
]
POSTS = ["/api/quiz/sessions", "/api/quiz/sessions/{}/question", "/api/quiz/questions/{}/answer"]
QUERY_NAMES = ["checkpoint", "label", "count", "seed", "seed_a", "seed_b", "frames", "scale", "run"]

ids = st.one_of(
    st.sampled_from(["cond", "uncond", "empty", "cond-2", "2", "latest", "..", "%2e%2e"]),
    st.text(max_size=30),
)
values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["latest", "best", "square", "Circle", "0", "1", "2", "64", "-1", ""]),
    st.text(max_size=20),
    st.floats(allow_nan=True).map(str),
)
json_values = st.recursive(
    # Finite floats only: the test client itself cannot encode inf/NaN as JSON (a raw
    # 'Infinity' body is covered by the binary-body test below).
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "run": st.one_of(st.none(), ids),
            "checkpoint": values,
            "questions": st.integers(-5, 100),
            "generated": st.lists(st.integers(-3, 6), max_size=4),
        },
    ),
)


@pytest.fixture(scope="module")
def c(tmp_path_factory):
    runs = tiny_runs(tmp_path_factory)
    with client(make_app(runs, tmp_path_factory.mktemp("fuzz") / "q.sqlite")) as c:
        yield c


def _fill(template: str, parts: list[str]) -> str:
    return template.format(*(quote(p, safe="") for p in parts[: template.count("{}")]))


def _check(response) -> None:
    assert response.status_code < 500 or response.status_code == 503, response.text[:300]
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/json"
        assert "detail" in response.json()


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    template=st.sampled_from(GETS),
    parts=st.lists(ids, min_size=2, max_size=2),
    query=st.dictionaries(st.sampled_from(QUERY_NAMES), values, max_size=5),
)
def test_get_routes_never_fail_with_500(c, template, parts, query):
    _check(c.get(_fill(template, parts), params=query))


@FUZZ
@given(template=st.sampled_from(POSTS), part=ids, body=bodies)
def test_post_routes_never_fail_with_500(c, template, part, body):
    _check(c.post(_fill(template, [part]), json=body))


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=200), kind=st.sampled_from(["application/json", "text/plain", ""]))
@example(body=b'{"run": "cond", "questions": Infinity}', kind="application/json")
@example(body=b'{"run": NaN}', kind="application/json")
def test_raw_bodies_never_fail_with_500(c, body, kind):
    headers = {"content-type": kind} if kind else {}
    _check(c.post("/api/quiz/sessions", content=body, headers=headers))
