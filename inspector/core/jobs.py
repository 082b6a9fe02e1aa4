"""The one pattern for long work: a plain generator that yields :class:`Progress` records.

A job (loading, stats, a forward pass, a training loop) is written as a generator in core. It yields
``Progress`` often and ``return``s its result; a stop request takes effect between two yields. The GUI runs
the generator in a worker thread (``inspector.ui.worker``); the CLI and tests drive it with :func:`run_job`.

A step that cannot yield (unpickling a 2,000-entry state dict is one call into the unpickler) calls
:func:`cancel_point` every few thousand operations instead: whoever drives the job on this thread puts its stop
flag in :func:`stop_flag`, and a stop request then ends the step with :class:`CancelledError` within
milliseconds, not when the step is over.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# The stop flag of the job this thread drives (a per-thread context, so two loads never share one).
_STOP_FLAG: ContextVar[threading.Event | None] = ContextVar("inspector_job_stop_flag", default=None)


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


@contextmanager
def stop_flag(flag: threading.Event) -> Iterator[None]:
    """While inside, :func:`cancel_point` on this thread raises once ``flag`` is set (the GUI worker's flag)."""
    token = _STOP_FLAG.set(flag)
    try:
        yield
    finally:
        _STOP_FLAG.reset(token)


def cancel_point() -> None:
    """Raise :class:`CancelledError` when the job driven on this thread was asked to stop (a cheap check)."""
    flag = _STOP_FLAG.get()
    if flag is not None and flag.is_set():
        from inspector.core.errors import CancelledError

        raise CancelledError()
