"""End to end in a real headless Chromium (Debian's, driven by Playwright) against uvicorn.

Generates a grid for a chosen label, walks an interpolation, browses a run,
takes a whole 5-question human test and reads the result on the results page,
then answers document 003's questionnaire (example panels, one question per
run) and reads its datasets x models table.
A screenshot of every page is written under the test's temporary folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.web.support import live_server, make_app, tiny_runs
from tests.web.test_quiz_003 import preset_copy

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the test extra is not installed
    sync_playwright = None

CHROMIUM = Path("/usr/bin/chromium")
# Launch arguments for a headless Debian Chromium: no sandbox (containers), no GPU, nothing fetched.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,  # a real Chromium
    pytest.mark.skipif(
        sync_playwright is None, reason="playwright is not installed (pip install -e '.[test]')"
    ),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium (scripts/setup.sh installs Debian's chromium where apt works)",
    ),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    runs = tiny_runs(tmp_path_factory)
    return make_app(runs, tmp_path_factory.mktemp("browser") / "quiz.sqlite")


@pytest.fixture(scope="module")
def base(app):
    with live_server(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def _grid_shown(page) -> None:
    page.wait_for_function(
        "() => { const g = document.getElementById('grid');"
        " return g.src.startsWith('blob:') && g.complete && g.naturalWidth > 0 }"
    )


def test_generate_a_grid_for_a_chosen_label(page, base, tmp_path):
    page.goto(f"{base}/generate?run=cond")
    page.select_option("select[name=label]", "triangle")
    page.fill("input[name=count]", "6")
    page.fill("input[name=seed]", "42")
    _grid_shown(page)
    page.wait_for_function("() => location.search.includes('seed=42')")
    assert "label=triangle" in page.url and "count=6" in page.url
    grid = page.locator("#grid")
    assert grid.evaluate("g => g.naturalWidth") == 6 * 34 + 2  # 6 images of 32 px, one row
    assert grid.evaluate("g => getComputedStyle(g).imageRendering") == "pixelated"
    assert grid.evaluate("g => g.width") > 2 * grid.evaluate("g => g.naturalWidth")  # enlarged
    href = page.get_attribute("#download", "href")
    assert "label=triangle" in href and "download=true" in href
    page.fill("input[name=count]", "99")  # out of range: the server's message is shown
    page.wait_for_function("() => document.getElementById('msg').textContent.includes('64')")
    page.fill("input[name=count]", "6")
    _grid_shown(page)
    page.screenshot(path=str(tmp_path / "generate.png"), full_page=True)

    page.fill("input[name=frames]", "4")
    page.click("#interp button[type=submit]")
    page.wait_for_function("() => !document.getElementById('slider').disabled")
    first = page.get_attribute("#frame", "src")
    page.eval_on_selector("#slider", "s => { s.value = 3; s.dispatchEvent(new Event('input')) }")
    assert page.inner_text("#flabel") == "frame 4 of 4"
    assert page.get_attribute("#frame", "src") != first and first.startswith("data:image/png")
    page.screenshot(path=str(tmp_path / "interpolation.png"), full_page=True)
    assert (tmp_path / "generate.png").stat().st_size > 0


def test_runs_pages(page, base, tmp_path):
    page.goto(base + "/")
    assert page.locator("table tr").count() == 5  # header + 4 runs
    page.screenshot(path=str(tmp_path / "runs.png"), full_page=True)
    page.click("text=cond >> nth=0")
    page.wait_for_selector("#sample")
    page.eval_on_selector("#step", "s => { s.value = 0; s.dispatchEvent(new Event('input')) }")
    assert page.inner_text("#steplabel") == "step 2"
    page.wait_for_function("() => document.getElementById('sample').src.endsWith('/2.png')")
    assert page.frame_locator("iframe").locator("h1").inner_text() == "Evaluation of cond"
    assert "conditioning: projection" in page.inner_text("pre")
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)


def test_a_whole_human_test_and_its_result(page, base, app, tmp_path):
    page.goto(f"{base}/quiz?run=cond")
    page.screenshot(path=str(tmp_path / "quiz-start.png"), full_page=True)
    page.click("#start")
    for number in range(1, 6):
        page.wait_for_selector(f"text=Question {number} of 5")
        page.wait_for_function(
            "() => [...document.querySelectorAll('.choice img')]"
            ".every(i => i.complete && i.naturalWidth === 32)"
        )
        assert page.is_disabled("#submit")
        for k in (0, 2, 3):  # a third click is undone: two at most
            page.click(f".choice >> nth={k}")
        assert page.locator("input[name=generated]:checked").count() == 2
        if number == 1:
            page.screenshot(path=str(tmp_path / "question.png"), full_page=True)
        page.click("#submit")
    page.wait_for_selector("text=Thank you")
    page.screenshot(path=str(tmp_path / "finished.png"), full_page=True)
    mine = float(re.search(r"your error rate is ([\d.]+)%", page.inner_text("main")).group(1))

    page.goto(f"{base}/results")
    row = page.locator("#results tr", has_text="cond")
    cells = row.locator("td").all_inner_texts()
    assert cells[:4] == ["cond", "4", "5", "1"]  # run, checkpoint, answers, sessions
    assert float(cells[5].rstrip("%")) == pytest.approx(mine, abs=0.01)
    [stored] = app.state.services.quiz.store.results()
    assert stored.answers == 5 and stored.generated_shown == 10
    assert "72.22%" in page.inner_text("main")  # seed 003's numbers beside ours
    page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
    assert {p.name for p in tmp_path.glob("*.png")} >= {"question.png", "results.png"}


def test_document_003_questionnaire_and_its_table(page, tmp_path_factory, tmp_path):
    runs = tiny_runs(tmp_path_factory)
    folder = tmp_path / "runs"
    shutil.copytree(runs / "cond", folder / "cond")
    preset_copy(runs / "uncond", folder / "mnist-gan", "mnist-gan")
    app = make_app(folder, tmp_path / "quiz.sqlite")
    with live_server(app) as base:
        page.goto(f"{base}/quiz")
        page.click("#mode-003")
        assert page.locator("input[name=runs]:checked").count() == 2  # every ready run
        page.screenshot(path=str(tmp_path / "questionnaire-start.png"), full_page=True)
        page.click("#start")
        for number in (1, 2):
            page.wait_for_selector(f"text=Question {number} of 2")
            assert page.inner_text("#examples-real figcaption") == "Examples of real images"
            caption = page.inner_text("#examples-generated figcaption")
            assert caption == "Examples of images generated by a computer"
            page.wait_for_function(
                "() => [...document.querySelectorAll('.examples img, .choice img')]"
                ".every(i => i.complete && i.naturalWidth === 32)"
            )
            assert page.locator(".examples img").count() == 16
            if number == 1:
                page.screenshot(path=str(tmp_path / "questionnaire.png"), full_page=True)
            page.click(".choice >> nth=1")
            page.click(".choice >> nth=2")
            page.click("#submit")
        page.wait_for_selector("text=Thank you")
        assert page.locator("#parts tr").count() == 3  # header + one row per question

        page.goto(f"{base}/results")
        row = page.locator("#table-003 tr", has_text="MNIST")
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == "MNIST" and "n = 1," in cells[1] and "003: 5.56%" in cells[1]
        assert cells[2:] == ["-", "-", "-"]  # DCGAN, WGAN, WGAN-GP: not asked
        assert page.locator("#other-003 tr", has_text="cond@4").count() == 1
        page.screenshot(path=str(tmp_path / "questionnaire-results.png"), full_page=True)
