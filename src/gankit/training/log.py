"""Per-step training metrics: buffered on the device, flushed to ``metrics.jsonl``.

Every step's scalars are kept as one small device tensor; a flush every N
steps moves them to the host in a single transfer (one sync per flush, not
per step), checks that they are finite, appends them as JSON lines, and
mirrors them to TensorBoard when it is installed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch


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
        """On resume: keeps the lines up to ``upto_step`` (later ones were never checkpointed)."""
        if self.path is None or not self.path.exists():
            return
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        block: list[dict] = []
        with self.path.open() as src, tmp.open("w") as dst:
            for line in src:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if rec.get("step", math.inf) <= upto_step:
                    dst.write(line if line.endswith("\n") else line + "\n")
                    block.append(rec)
                    if len(block) == self.block:
                        self._add_history(block)
                        block = []
        if block:
            self._add_history(block)
        tmp.replace(self.path)

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
            with self.path.open("a") as f:
                f.write("\n".join(lines) + "\n")
        if self._tb is not None:
            for name in self.names:
                self._tb.add_scalar(name, record[name], record["step"])
        self._pending.clear()
        return record

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _tensorboard_writer(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(str(log_dir))
