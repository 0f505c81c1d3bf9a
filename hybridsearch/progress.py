"""Where a write is: the `ProgressEvent`s that indexing and filling report to a `Progress` callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressEvent", "Stage"]


@dataclass(frozen=True)
class ProgressEvent:
    """Where a write is: `stage` (reading files, loading model, tokenizing, encoding, searchable by
    words), how many `unit`s are done and how many there are (None: not known yet). `detail` names
    what is being loaded."""

    stage: str
    done: int
    total: int | None
    unit: str
    detail: str = ""


Progress = Callable[[ProgressEvent], None]


class Stage:
    """Reports one stage's progress to a `Progress` callback (nothing without one)."""

    def __init__(self, progress: Progress | None, stage: str, total: int | None, unit: str, detail: str = "") -> None:
        self.progress, self.stage, self.total, self.unit, self.detail = progress, stage, total, unit, detail
        self.done = 0

    def add(self, count: int) -> None:
        self.to(self.done + count)

    def to(self, done: int) -> None:
        self.done = done
        if self.progress is not None:
            self.progress(ProgressEvent(self.stage, done, self.total, self.unit, self.detail))
