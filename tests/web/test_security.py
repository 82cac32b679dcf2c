"""Host header, cross-site and CSRF checks, body limits, ids and file confinement."""

from __future__ import annotations

import re

import pytest

from gankit.web.errors import NotFound
from gankit.web.security import MAX_BODY_BYTES, allowed_hosts, check_id, host_name, inside
from tests.web.support import SAME_ORIGIN, client, make_app, tiny_runs


@pytest.fixture(scope="module")
def c(tmp_path_factory):
    runs = tiny_runs(tmp_path_factory)
    with client(make_app(runs, tmp_path_factory.mktemp("sec") / "q.sqlite")) as c:
        yield c


def _token(c) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get("/quiz").text).group(1)


@pytest.mark.parametrize(
    ("header", "name"),
    [("Example.org:8000", "example.org"), ("[::1]:8000", "::1"), ("localhost.", "localhost")],
)
def test_host_name(header, name):
    assert host_name(header) == name


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1", "[::1]:1234", "testserver"])
def test_local_hosts_are_served(c, host):
    assert c.get("/api/runs", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example:80", "", "localhost@x"])
def test_other_hosts_are_refused(c, host):
    r = c.get("/api/runs", headers={"host": host})
    assert r.status_code == 400 and "Host header" in r.json()["detail"]


def test_wildcard_binding_adds_this_machines_names():
    assert {"localhost", "127.0.0.1", "::1"} <= allowed_hosts("0.0.0.0")
    assert "0.0.0.0" not in allowed_hosts("0.0.0.0")
    assert allowed_hosts("192.168.1.5") >= {"192.168.1.5", "localhost"}


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://testserver:9999"},  # another port is another origin
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_cross_site_posts_are_refused(c, headers):
    json_post = c.post("/api/quiz/sessions", json={"run": "cond"}, headers=headers)
    assert json_post.status_code == 403 and "cross-site" in json_post.json()["detail"]
    form = {"csrf": _token(c), "run": "cond"}
    assert c.post("/quiz/start", data=form, headers=headers).status_code == 403


def test_form_posts_need_origin_and_a_valid_token(c):
    token = _token(c)
    form = {"csrf": token, "run": "cond", "questions": "1"}
    no_origin = c.post("/quiz/start", data=form)
    assert no_origin.status_code == 403 and "Origin" in no_origin.json()["detail"]
    for bad in ("", "0" * 40, token[:-1]):
        r = c.post("/quiz/start", data={**form, "csrf": bad}, headers=SAME_ORIGIN)
        assert r.status_code == 403 and "token" in r.json()["detail"]
    fetch = {"Sec-Fetch-Site": "same-origin"}
    ok = c.post("/quiz/start", data=form, headers=fetch, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"].startswith("/quiz/")
    cookies = dict(c.cookies)
    c.cookies.clear()
    try:  # the token belongs to the cookie: without it the form is refused
        r = c.post("/quiz/start", data=form, headers=SAME_ORIGIN)
        assert r.status_code == 403 and "cookie" in r.json()["detail"]
    finally:
        c.cookies.update(cookies)


def test_form_bodies_are_checked(c):
    token = _token(c)
    as_json = c.post("/quiz/start", json={"csrf": token}, headers=SAME_ORIGIN)
    assert as_json.status_code == 400 and "form post" in as_json.json()["detail"]
    huge = c.post(
        "/quiz/start", data={"csrf": token, "x": "a" * MAX_BODY_BYTES}, headers=SAME_ORIGIN
    )
    assert huge.status_code == 413
    bad_count = {"csrf": token, "run": "cond", "questions": "many"}
    assert c.post("/quiz/start", data=bad_count, headers=SAME_ORIGIN).status_code == 422
    too_many = {"csrf": token, "run": "cond", "questions": "500"}
    assert c.post("/quiz/start", data=too_many, headers=SAME_ORIGIN).status_code == 422
    unknown = {"csrf": token, "run": "../../etc", "questions": "1"}
    assert c.post("/quiz/start", data=unknown, headers=SAME_ORIGIN).status_code == 404


def test_pages_carry_security_headers_and_a_script_nonce(c):
    page = c.get("/generate?run=cond&label=square")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'<script nonce="{nonce}">' in page.text and "unsafe-inline" not in csp.split(";")[1]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert c.get("/api/runs").headers["x-frame-options"] == "SAMEORIGIN"
    cookie = c.get("/quiz").headers.get("set-cookie", "") or "already set"
    assert cookie == "already set" or ("HttpOnly" in cookie and "SameSite=strict" in cookie)


@pytest.mark.parametrize("value", ["..", "a/b", "../x", "a..b", "", ".hidden", "a b", "ä"])
def test_ids_with_dots_slashes_or_odd_characters_are_rejected(value):
    with pytest.raises(NotFound):
        check_id(value, "run")


def test_inside_refuses_escapes(tmp_path):
    root, outside = tmp_path / "run", tmp_path / "secret.txt"
    root.mkdir()
    outside.write_text("x")
    (root / "ok.png").write_text("y")
    (root / "link.png").symlink_to(outside)
    assert inside(root, root / "ok.png") == (root / "ok.png").resolve()
    for path in (root / "link.png", root / ".." / "secret.txt", root / "missing.png", root):
        with pytest.raises(NotFound):
            inside(root, path)


def test_pages_answer_bad_input_with_4xx(c):
    for url, status in [
        ("/runs/nope", 404),
        ("/runs/%2E%2E", 404),
        ("/generate?run=nope", 404),
        ("/generate?run=cond&checkpoint=99", 404),
        ("/generate?run=empty", 404),
        ("/generate?count=100", 422),
        ("/quiz/nope", 404),
        ("/quiz/x?found=7", 422),
    ]:
        assert c.get(url).status_code == status, url
