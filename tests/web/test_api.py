"""The JSON / PNG API: runs, their files, generation and interpolation, and bad input."""

from __future__ import annotations

import ast
import asyncio
import base64
import io
import os
import shutil
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import gankit.web
from gankit.web.errors import Busy
from gankit.web.models import Engine
from tests.web.support import client, get_request, live_server, make_app, raw_requests, tiny_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


@pytest.fixture(scope="module")
def api(runs, tmp_path_factory):
    app = make_app(runs, tmp_path_factory.mktemp("api") / "quiz.sqlite")
    with client(app) as c:
        yield c


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_runs_are_listed_with_ids_from_folder_names(api):
    runs = {r["id"]: r for r in api.get("/api/runs").json()}
    assert set(runs) == {"cond", "cond-2", "uncond", "empty"}  # group/cond de-duplicated
    cond = runs["cond"]
    assert cond["conditional"] and cond["class_names"] == ["circle", "square", "triangle"]
    assert cond["checkpoints"] == [2, 4] and cond["sample_steps"] == [2, 4]
    assert cond["has_report"] and not runs["uncond"]["has_report"]
    assert not runs["uncond"]["conditional"] and runs["empty"]["checkpoints"] == []
    detail = api.get("/api/runs/cond").json()
    assert "conditioning: projection" in detail["config_yaml"]


def test_generate_json_by_label_name_and_index_agree(api):
    by_name = api.get("/api/runs/cond/generate?label=Square&count=3&seed=5").json()
    by_index = api.get("/api/runs/cond/generate?label=1&count=3&seed=5").json()
    assert by_name["label"] == 1 and by_name["label_name"] == "square"
    assert by_name["images_png_base64"] == by_index["images_png_base64"]
    assert by_name["checkpoint"] == 4 and by_name["count"] == 3
    first = _png(base64.b64decode(by_name["images_png_base64"][0]))
    assert first.shape == (32, 32, 3)
    # Image i comes from seed + i alone: the second image is the first of seed 6.
    shifted = api.get("/api/runs/cond/generate?label=square&count=1&seed=6").json()
    assert shifted["images_png_base64"][0] == by_name["images_png_base64"][1]


def test_generate_png_grid_scale_and_download(api):
    r = api.get("/api/runs/cond/generate.png?count=16&seed=1&checkpoint=2")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    grid = _png(r.content)
    assert grid.shape == (2 * 34 + 2, 8 * 34 + 2, 3)  # 8 per row, 2 px padding
    big = api.get("/api/runs/cond/generate.png?count=16&seed=1&checkpoint=2&scale=4&download=1")
    assert _png(big.content).shape[:2] == (4 * grid.shape[0], 4 * grid.shape[1])
    assert "attachment" in big.headers["content-disposition"]
    assert api.get("/api/runs/uncond/generate.png?count=1").status_code == 200


def test_interpolation_frames(api):
    out = api.get("/api/runs/cond/interpolate?seed_a=3&seed_b=9&frames=5&label=triangle").json()
    assert len(out["frames_png_base64"]) == 5 and out["seeds"] == [3, 9] and out["label"] == 2
    single = api.get("/api/runs/cond/generate?label=triangle&count=1&seed=3").json()
    assert out["frames_png_base64"][0] == single["images_png_base64"][0]  # starts at seed_a


def test_run_files_and_report(api):
    assert api.get("/api/runs/cond/samples/2.png").headers["content-type"] == "image/png"
    assert api.get("/api/runs/cond/losses.png").status_code == 200
    report = api.get("/api/runs/cond/report.html")
    assert "Evaluation of cond" in report.text
    assert report.headers["content-security-policy"].startswith("sandbox")
    assert api.get("/api/runs/uncond/report.html").status_code == 404
    assert api.get("/api/runs/cond/samples/3.png").status_code == 404


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/api/runs/cond/generate?count=0", 422, "greater than or equal to 1"),
        ("/api/runs/cond/generate?count=65", 422, "less than or equal to 64"),
        ("/api/runs/cond/generate.png?count=-3", 422, "greater than"),
        ("/api/runs/cond/generate?seed=-1", 422, "greater than"),
        ("/api/runs/cond/generate?seed=2147483648", 422, "less than"),
        ("/api/runs/cond/generate?seed=1e400", 422, "integer"),
        ("/api/runs/cond/generate?label=3", 422, "out of range"),
        ("/api/runs/cond/generate?label=-1", 422, "out of range"),
        ("/api/runs/cond/generate?label=sqare", 422, "did you mean 'square'"),
        ("/api/runs/uncond/generate?label=0", 422, "unconditional"),
        ("/api/runs/uncond/interpolate?label=circle", 422, "unconditional"),
        ("/api/runs/cond/interpolate?frames=1", 422, "greater than or equal to 2"),
        ("/api/runs/cond/interpolate?frames=33", 422, "less than"),
        ("/api/runs/cond/generate.png?scale=9", 422, "less than"),
        ("/api/runs/nope/generate", 404, "no run 'nope'"),
        ("/api/runs/nope", 404, "no run"),
        ("/api/runs/empty/generate", 404, "has no checkpoint"),
        ("/api/runs/cond/generate?checkpoint=3", 404, "no checkpoint '3' (has: 2, 4)"),
        ("/api/runs/cond/generate?checkpoint=best", 404, "no checkpoint 'best'"),
        ("/api/runs/cond/generate?checkpoint=../x", 404, "'latest', 'best' or a step"),
        ("/api/runs/cond/samples/-1.png", 422, "greater than"),
        ("/api/runs/..%2F..%2Fetc/losses.png", 404, "Not Found"),
        ("/api/runs/%2E%2E/losses.png", 404, "no run '..'"),
        ("/api/runs/cond/../../etc/passwd", 404, "Not Found"),
        ("/api/runs/" + "x" * 101, 422, "at most 100"),
        ("/api/nothing", 404, "Not Found"),
    ],
)
def test_bad_input_is_a_clear_4xx(api, url, status, says):
    r = api.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert says in str(r.json()["detail"])


def test_no_file_outside_the_run_even_through_a_symlink(runs, tmp_path):
    folder = tmp_path / "served"
    shutil.copytree(runs / "uncond", folder / "uncond")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not for the web")
    os.symlink(secret, folder / "uncond" / "samples" / "step_0000099.png")
    (folder / "uncond" / "losses.png").unlink()
    os.symlink(secret, folder / "uncond" / "losses.png")
    with client(make_app(folder, tmp_path / "q.sqlite")) as c:
        assert c.get("/api/runs/uncond").json()["sample_steps"] == [2, 4, 99]
        for url in ("/api/runs/uncond/samples/99.png", "/api/runs/uncond/losses.png"):
            r = c.get(url)
            assert r.status_code == 404 and b"not for the web" not in r.content


def test_openapi_documents_the_api(api):
    schema = api.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/runs",
        "/api/runs/{run_id}/generate",
        "/api/runs/{run_id}/generate.png",
        "/api/runs/{run_id}/interpolate",
        "/api/quiz/sessions",
        "/api/quiz/questions/{qid}/answer",
        "/api/quiz/results",
    ):
        assert path in paths
    assert {"GenerateOut", "AnswerIn", "ResultsOut"} <= set(schema["components"]["schemas"])
    assert not any(p.startswith("/quiz") or p == "/" for p in paths)  # pages are not API


def test_engine_refuses_beyond_its_slots_and_recovers():
    engine = Engine(workers=2, queue=3)
    release = threading.Event()

    async def flood():
        return await asyncio.gather(
            *(engine.run(release.wait, 5) for _ in range(1000)), return_exceptions=True
        )

    async def main():
        task = asyncio.ensure_future(flood())
        await asyncio.sleep(0.2)
        release.set()
        return await task

    results = asyncio.run(main())
    assert sum(r is True for r in results) == 5  # 2 running + 3 waiting
    assert all(isinstance(r, Busy) for r in results if r is not True)
    assert asyncio.run(engine.run(lambda: 7)) == 7  # every slot came back
    engine.close()


@pytest.mark.slow  # a thousand requests
def test_a_thousand_requests_at_once_get_200_or_503_never_500(runs, tmp_path):
    app = make_app(runs, tmp_path / "q.sqlite", workers=1, queue=2)
    engine = app.state.services.engine
    real = engine.images

    def slow(*args):  # long enough that the flood meets full slots
        time.sleep(0.3)
        return real(*args)

    engine.images = slow
    with live_server(app) as base:
        request = get_request(base, "/api/runs/cond/generate.png?count=1")
        responses = asyncio.run(raw_requests(base, request, 1000))
        assert httpx.get(f"{base}/api/runs", timeout=10).status_code == 200  # still answers
    statuses = [status for status, _ in responses]
    assert set(statuses) <= {200, 503} and 3 <= statuses.count(200) < 200
    busy = next(text for status, text in responses if status == 503)
    assert b"retry-after: 1" in busy.lower() and b'{"detail":"the server is busy' in busy


def test_a_bad_parameter_is_refused_before_anything_is_generated(runs, tmp_path):
    app = make_app(runs, tmp_path / "q.sqlite")
    engine, calls = app.state.services.engine, []
    engine.images = lambda *args: calls.append(args)
    with client(app) as c:
        assert c.get("/api/runs/cond/generate.png?count=2&scale=9").status_code == 422
        assert c.get("/api/runs/nope/generate.png?scale=9").status_code == 422
    assert calls == []


def test_the_views_do_not_import_each_other():
    """Pages and API are two views over the quiz rules and the catalogue, side by side."""
    web = Path(gankit.web.__file__).parent
    views = {"api": {"api", "schemas"}, "pages": {"pages", "quiz_pages"}}
    for view, modules in views.items():
        other = set().union(*(m for v, m in views.items() if v != view))
        for module in modules:
            tree = ast.parse((web / f"{module}.py").read_text())
            imported = {
                node.module.removeprefix("gankit.web.")
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module
            }
            imported |= {
                alias.name
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module == "gankit.web"
                for alias in node.names
            }
            assert not imported & other, (module, imported & other)


def test_catalog_reads_best_through_the_run_and_a_damaged_one_is_a_404(tmp_path):
    import torch

    from gankit.checkpoint import mark_best, write_checkpoint
    from gankit.config import Config
    from gankit.run import create_run
    from gankit.web.catalog import Catalog
    from gankit.web.errors import NotFound

    run = create_run(tmp_path / "runs" / "one", Config())
    for step in (2, 4):
        write_checkpoint(run, step, generator={"w": torch.zeros(1)}, training=None, state={})
    served = Catalog([tmp_path / "runs"]).get("one")
    assert not served.has_best() and served.checkpoint("latest") == 4
    mark_best(run, 2, {"fid": 1.0})
    assert served.has_best() and served.checkpoint("best") == 2
    run.best_path.write_text("{damaged")
    with pytest.raises(NotFound, match="no checkpoint 'best' \\(has: 2, 4\\)"):
        served.checkpoint("best")
