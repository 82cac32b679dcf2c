"""``gankit serve``: its arguments, run discovery, the database's default place, a real start."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from gankit.cli import serve
from gankit.errors import GankitError
from gankit.web.catalog import Catalog, default_db, find_runs
from gankit.web.errors import NotFound
from tests.web.support import tiny_runs

SERVE = (
    "import argparse, sys; from gankit.cli import serve; from gankit.errors import GankitError\n"
    "p = argparse.ArgumentParser(); serve.add_parser(p.add_subparsers())\n"
    "a = p.parse_args(sys.argv[1:])\n"
    "try: sys.exit(a.func(a))\n"
    "except GankitError as e: print(e, file=sys.stderr); sys.exit(2)\n"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tiny_runs(tmp_path_factory)


def _parse(argv):
    parser = argparse.ArgumentParser(prog="gankit")
    serve.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_arguments_and_defaults(tmp_path):
    args = _parse([str(tmp_path)])
    assert (args.host, args.port, args.db, args.device) == ("127.0.0.1", 8000, None, "cpu")
    args = _parse(["a", "b", "--host", "0.0.0.0", "--port", "0", "--db", "x.sqlite"])
    assert [str(p) for p in args.paths] == ["a", "b"] and args.port == 0
    assert args.func is serve.run
    with pytest.raises(SystemExit):
        _parse([])  # at least one folder


def test_bad_port_and_missing_folders_are_one_line_errors(tmp_path):
    with pytest.raises(GankitError, match="--port"):
        serve.run(_parse([str(tmp_path), "--port", "70000"]))
    with pytest.raises(GankitError, match="not a folder"):
        find_runs([tmp_path / "missing"])
    with pytest.raises(GankitError, match="no gankit runs"):
        find_runs([tmp_path])


def test_discovery_one_or_two_levels_deep_with_unique_ids(runs, tmp_path):
    assert [p.name for p in find_runs([runs / "cond"])] == ["cond"]  # a run itself
    folder = tmp_path / "deep"
    shutil.copytree(runs / "uncond", folder / "a" / "b" / "run one")
    shutil.copytree(runs / "uncond", folder / "a" / "b" / "c" / "too-deep")
    shutil.copytree(runs / "uncond", folder / "x" / "run one")
    (folder / ".hidden").mkdir()
    shutil.copytree(runs / "uncond", folder / ".hidden" / "r")
    shutil.copytree(runs / "uncond", folder / "three" / "l1" / "l2" / "run")
    with pytest.raises(GankitError, match="no gankit runs"):  # three levels down: not looked at
        find_runs([folder / "three"])
    catalog = Catalog([folder / "a", folder, runs / "uncond", runs / "uncond"])
    assert catalog.ids() == ["run-one", "run-one-2", "uncond"]  # the same run once


def test_a_run_with_a_damaged_config_is_left_out(runs, tmp_path):
    shutil.copytree(runs / "uncond", tmp_path / "good")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.yaml").write_text("model: [unclosed\n")
    catalog = Catalog([tmp_path])
    assert catalog.ids() == ["good"] and "bad" in catalog.skipped[0]
    with pytest.raises(GankitError, match="no usable runs"):
        Catalog([tmp_path / "bad"])


def test_default_database_place(runs):
    assert default_db([runs]) == runs / "gankit-quiz.sqlite"
    assert default_db([runs / "cond"]) == runs / "gankit-quiz.sqlite"  # beside a lone run


@pytest.mark.slow  # a real uvicorn process
def test_serve_starts_uvicorn_and_answers(runs, tmp_path):
    db = tmp_path / "answers.sqlite"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-c", SERVE, "serve", str(runs), "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "serving cond, empty, cond-2, uncond at http://127.0.0.1:" in line, (
            line + proc.stderr.read()
        )
        url = line.split(" at ", 1)[1].split()[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(url + "api/runs", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert r.status_code == 200 and db.exists()
        assert httpx.get(url, headers={"host": "evil.example"}).status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_taken_port_is_one_clear_line(runs, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(GankitError, match=f"cannot serve on 127.0.0.1:{port}"):
            serve.bind("127.0.0.1", port)


def test_ready_runs_are_those_with_a_checkpoint(runs, tmp_path):
    assert [r.id for r in Catalog([runs]).ready()] == ["cond", "cond-2", "uncond"]
    shutil.copytree(runs / "empty", tmp_path / "empty")
    catalog = Catalog([tmp_path])
    assert catalog.ready() == []
    with pytest.raises(NotFound, match="no served run has a checkpoint yet"):
        catalog.require_ready()
