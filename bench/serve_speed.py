"""Web app speed: grid latency, and answers per second of the human test.

Two measurements against a live uvicorn server on this machine (generation on the CPU):

- latency: p50 and p95 of ``GET /api/runs/RUN/generate.png?count=16`` - a 16-image grid,
  generated, tiled and PNG-encoded - one request at a time, a new seed each time. Target:
  p50 < 300 ms with the ``fashion`` preset's model.
- answers/s: 50 concurrent clients, each posting answers (``POST
  /api/quiz/questions/QID/answer``) to its own pre-made questions over keep-alive; every
  answer is one ``BEGIN IMMEDIATE`` SQLite transaction. The clients share the machine's
  cores with the server, so this is a lower bound.

Without ``--run`` a stand-in is trained for 2 steps: the ``fashion`` preset's architecture
(conditional DCGAN at 28x28 grey) on Fashion-MNIST when its files are found, else on
generated shapes at the same size - its speed is the real model's, its images are not.

    python bench/serve_speed.py
    python bench/serve_speed.py --run runs/fashion --requests 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PNG = b"\x89PNG\r\n\x1a\n"  # stand-in image bytes: answering never reads them
# `gankit serve` through its own parser (works whether or not the CLI lists it yet).
SERVE = (
    "import argparse, sys; from gankit.cli import serve\n"
    "p = argparse.ArgumentParser(); serve.add_parser(p.add_subparsers())\n"
    "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
)


def stand_in_run(folder: Path) -> Path:
    from gankit import training
    from gankit.data import dataset_kind
    from gankit.errors import GankitError
    from gankit.presets import get_preset

    cfg = get_preset("fashion")
    try:
        from gankit.data.sources import locate

        locate(dataset_kind(cfg.data.dataset), "train", cfg.data.data_dir)
    except GankitError:  # no Fashion-MNIST here: same shapes and model on generated data
        cfg.data.dataset, cfg.data.img_size, cfg.data.channels = "shapes", 28, 1
        cfg.data.shapes_count = 256
    cfg.train.steps, cfg.train.batch_size, cfg.train.device = 2, 16, "cpu"
    cfg.log.sample_every = cfg.log.checkpoint_every = 0
    out = folder / "fashion-stand-in"
    training.train(cfg, out, progress=False)
    print(f"stand-in run: fashion preset's model, 2 steps on {cfg.data.dataset}")
    return out


def start(run: Path, db: Path) -> tuple[subprocess.Popen, str]:
    """``gankit serve RUN`` in its own process (so client and server do not share a GIL)."""
    cmd = [sys.executable, "-c", SERVE, "serve", str(run), "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if " at http" not in line:
        proc.kill()
        raise SystemExit(f"gankit serve did not start: {line}")
    base = line.split(" at ", 1)[1].split()[0].rstrip("/")
    while True:  # the socket is bound before uvicorn starts answering
        try:
            httpx.get(base + "/api/runs", timeout=5)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.05)


def grid_latency(base: str, run_id: str, requests: int) -> list[float]:
    times = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for i in range(requests + 3):
            url = f"/api/runs/{run_id}/generate.png?count=16&seed={1000 * i}"
            began = time.perf_counter()
            r = http.get(url)
            elapsed = time.perf_counter() - began
            r.raise_for_status()
            if i >= 3:  # the first requests load the model and warm up
                times.append(elapsed)
    return times


async def _client(host: str, port: int, qids: list[str]) -> int:
    """One keep-alive connection posting answers one after another; a bare HTTP/1.1 client,
    so that the server, not the client library, is what is measured."""
    reader, writer = await asyncio.open_connection(host, port)
    body = json.dumps({"generated": [2, 3]}).encode()
    ok = 0
    for qid in qids:
        writer.write(
            f"POST /api/quiz/questions/{qid}/answer HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))
        await reader.readexactly(length)
        ok += head.startswith(b"HTTP/1.1 200")
    writer.close()
    return ok


def post_answers(base: str, work: list[list[str]]) -> tuple[float, int]:
    host, port = base.removeprefix("http://").split(":")

    async def all_clients():
        return await asyncio.gather(*(_client(host, int(port), qids) for qids in work))

    began = time.perf_counter()
    ok = sum(asyncio.run(all_clients()))
    return ok / (time.perf_counter() - began), ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="a trained run (default: a tiny stand-in)")
    parser.add_argument("--requests", type=int, default=40, help="grid requests to time")
    parser.add_argument("--clients", type=int, default=50, help="concurrent quiz clients")
    parser.add_argument("--answers", type=int, default=20, help="answers per quiz client")
    args = parser.parse_args()

    from gankit.web.catalog import Catalog
    from gankit.web.quiz import QuizStore

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or stand_in_run(Path(tmp))
        db = Path(tmp) / "bench.sqlite"
        run_id = Catalog([run]).ids()[0]
        server, base = start(run, db)
        try:
            times = sorted(grid_latency(base, run_id, args.requests))
            p50, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
            print(f"16-image grid on the CPU, "
                  f"{len(times)} requests: p50 {1000 * p50:.0f} ms, p95 {1000 * p95:.0f} ms "
                  f"(target p50 < 300 ms)")  # fmt: skip
            rate, ok = quiz_rate(QuizStore(db), base, run_id, args.clients, args.answers)
            print(f"quiz answers: {rate:.0f}/s with {args.clients} concurrent clients "
                  f"({ok} answers, each one SQLite transaction)")  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=20)


def quiz_rate(store, base: str, run_id: str, clients: int, each: int) -> tuple[float, int]:
    """Each client answers ``each`` questions, one per session (made directly in the store)."""
    work = []
    for _ in range(clients):
        qids = []
        for _ in range(each):
            sid = store.start_session(run_id, 0, 1).id
            qids.append(store.add_question(sid, [PNG] * 4, (0, 1), ["r", "r", "g", "g"]).id)
        work.append(qids)
    return post_answers(base, work)


if __name__ == "__main__":
    main()
