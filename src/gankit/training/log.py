"""Per-step training metrics: buffered on the device, flushed to ``metrics.jsonl``.

Every step's scalars are kept as one small device tensor; a flush every N
steps moves them to the host in a single transfer (one sync per flush, not
per step), checks that they are finite, appends them as JSON lines, and
mirrors them to TensorBoard when it is installed.

The file stays an append-only log: each flush is synced before the checkpoint that
follows it, so every line up to a checkpoint's step is on the disk with it. A crash
mid-append can leave a cut last line, always of a step after the last checkpoint;
a resume rewrites the file up to that checkpoint (atomically, see ``gankit.durable``)
and drops whatever cannot be read.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from gankit import durable, faults
from gankit.errors import GankitError


class NonFiniteLoss(Exception):
    def __init__(self, step: int, name: str):
        super().__init__(f"{name} became non-finite at step {step}")
        self.step, self.name = step, name


class MetricsLog:
    def __init__(
        self, path: Path | None, names: list[str], block: int, tensorboard_dir: Path | None = None
    ):
        self.path = path
        self.names = names
        self.block = max(1, block)  # steps averaged into one point of `history`
        self._pending: list[tuple[int, float, torch.Tensor]] = []
        # For plots: one point per block of steps, so memory does not grow with every step.
        self.history: dict[str, list[float]] = {"step": [], "epoch": [], **{n: [] for n in names}}
        self._tb = _tensorboard_writer(tensorboard_dir) if tensorboard_dir else None

    def load_history(self, upto_step: int) -> None:
        """On resume: keeps the lines up to ``upto_step`` (later ones were never checkpointed).

        Raises:
            GankitError: the disk is full or failing; ``metrics.jsonl`` is as it was.
        """
        if self.path is None or not self.path.exists():
            return
        tmp = durable.temp_path(self.path)
        block: list[dict] = []
        try:
            with self.path.open("rb") as src, tmp.open("wb") as dst:
                for line in src:
                    rec = _record(line)
                    if rec is None or rec["step"] > upto_step:
                        continue  # a line cut short by a crash, or never checkpointed
                    dst.write(line if line.endswith(b"\n") else line + b"\n")
                    block.append(rec)
                    if len(block) == self.block:
                        self._add_history(block)
                        block = []
            durable.replace_file(tmp, self.path, fault="metrics.rewrite")
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise self._disk_error("rewrite", e) from None
        if block:
            self._add_history(block)

    def _add_history(self, records: list[dict]) -> None:
        self.history["step"].append(records[-1]["step"])
        self.history["epoch"].append(records[-1].get("epoch", math.nan))
        for name in self.names:
            values = [r.get(name, math.nan) for r in records]
            self.history[name].append(sum(values) / len(values))

    def append(self, step: int, epoch: float, values: torch.Tensor) -> None:
        """Queues one step's scalars (a 1-D device tensor in ``names`` order); no sync."""
        self._pending.append((step, epoch, values.detach()))

    def flush(self, extra: dict[str, float] | None = None, reduce=None) -> dict[str, float] | None:
        """Writes queued steps; returns the last record. Raises NonFiniteLoss on NaN/inf.

        ``reduce`` maps the stacked [steps, names] tensor before it is read (data-parallel
        ranks average theirs, so the log shows the global batch's values).
        """
        if not self._pending:
            return None
        stacked = torch.stack([v for _, _, v in self._pending]).float()
        rows = (reduce(stacked) if reduce else stacked).cpu().tolist()
        lines, records = [], []
        record: dict[str, float] = {}
        for (step, epoch, _), row in zip(self._pending, rows):
            for name, value in zip(self.names, row):
                if not math.isfinite(value):
                    self._pending.clear()
                    raise NonFiniteLoss(step, name)
            record = {"step": step, "epoch": round(epoch, 5), **dict(zip(self.names, row))}
            lines.append(json.dumps(record))
            records.append(record)
        self._add_history(records)
        if extra:
            record.update(extra)
            lines[-1] = json.dumps(record)
        if self.path is not None:  # None: a rank that checks but does not write
            self._append("\n".join(lines) + "\n")
        if self._tb is not None:
            for name in self.names:
                self._tb.add_scalar(name, record[name], record["step"])
        self._pending.clear()
        return record

    def _append(self, text: str) -> None:
        """Appends whole lines and syncs them, so a checkpoint never outlives its metrics."""
        try:
            with self.path.open("ab") as f:
                f.write(text.encode())
                f.flush()
                faults.point("metrics.flush")
                os.fsync(f.fileno())
        except OSError as e:
            raise self._disk_error("append to", e) from None

    def _disk_error(self, what: str, e: OSError) -> GankitError:
        """A failed write of the metrics, as one line; the run folder holds ``metrics.jsonl``."""
        return GankitError(
            f"could not {what} {self.path}: {durable.describe(e)} - free space and resume with "
            f"gankit train --resume {self.path.parent}"
        )

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _record(line: bytes) -> dict | None:
    """One metrics line as a record; None for what a crash can leave (cut or zero-filled)."""
    try:
        rec = json.loads(line)
    except ValueError:  # also UnicodeDecodeError: bytes that are not text at all
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
        return None
    return rec


def _tensorboard_writer(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(log_dir))
