"""Quantization-aware training: ``hwflow.train.keras`` (QKeras) and ``hwflow.train.torch``
(Brevitas), imported on demand; ``hwflow.train.econt_metrics`` holds the ECON-T loss/metric."""

from __future__ import annotations

from typing import Callable


class EpochLog(list):
    """The epoch records of a training run (``train.json`` ``history``); each record
    appended is also passed to ``on_epoch`` (the ``hwflow run`` progress display), so the
    training loops need no extra argument to report progress."""

    def __init__(self, on_epoch: Callable[[dict], None] | None = None):
        super().__init__()
        self.on_epoch = on_epoch

    def append(self, record: dict) -> None:
        super().append(record)
        if self.on_epoch is not None:
            self.on_epoch(record)


def describe_epoch(record: dict, epochs: int | None) -> str:
    """One line for a progress display: phase, epoch (of the run's total) and metrics."""
    phase = record.get("phase") or record.get("stage") or "train"
    metrics = " ".join(f"{k} {v:.4g}" for k, v in record.items()
                       if k not in ("phase", "stage", "epoch") and isinstance(v, (int, float)))
    return f"{phase} epoch {record.get('epoch')}" + (f" ({epochs} in all)" if epochs else "") + f": {metrics}"
