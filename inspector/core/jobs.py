"""The one pattern for long work: a plain generator that yields :class:`Progress` records.

A job (loading, stats, a forward pass, a training loop) is written as a generator in core. It yields
``Progress`` often and ``return``s its result; a stop request takes effect between two yields. The GUI runs
the generator in a worker thread (``inspector.ui.worker``); the CLI and tests drive it with :func:`run_job`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """How far a job is: ``done`` of ``total`` steps (``total`` 0 when unknown) and what it is doing."""

    done: int
    total: int
    message: str = ""
    payload: Any = None

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


Job = Generator[Progress, None, T]


def run_job(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Drive ``job`` to the end on this thread and return what it returned."""
    while True:
        try:
            record = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(record)
