"""Run a core job on a worker thread: the one worker pattern of the GUI.

A core job is a generator that yields :class:`inspector.core.jobs.Progress` records and returns its result
(see :mod:`inspector.core.jobs`). :class:`JobWorker` drives one on a ``QThread``. The job is *made* on that
thread too (``make_job()`` is called there), so whatever it imports - torch above all - is imported off the
GUI thread and the window paints before torch is loaded.

Cancelling is cooperative: :meth:`JobWorker.cancel` sets a flag that the thread reads between two yields,
then closes the generator there (its ``finally`` blocks run); long steps inside the job read the same flag at
their :func:`inspector.core.jobs.cancel_point` (the unpickler does, every few thousand operations). From the moment ``cancel()`` returns the worker
emits none of ``progress``/``finished``/``failed``, so an owner that moved on never sees a stale result.

Whoever starts a worker stops it: an owner keeps its workers in a :class:`WorkerSlot` and calls
:meth:`WorkerSlot.shutdown` (cancel, then wait) when it closes. A running worker also keeps itself alive,
so dropping the last reference to it can never destroy a running ``QThread``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from inspector.core.errors import CancelledError, InspectorError
from inspector.core.jobs import stop_flag

log = logging.getLogger(__name__)

MakeJob = Callable[[], Any]  # returns a core Job (a generator of Progress records)

CLOSE_WAIT_MS = 150  # a closing window waits at most this for its jobs' threads (they stop at cancel points)
PROGRESS_INTERVAL_S = 0.05  # at most ~20 progress records a second reach the GUI
_MAX_MESSAGE = 300

# Workers whose thread may still run; a worker leaves when its thread's end reaches the GUI thread.
_ALIVE: set[JobWorker] = set()


def user_message(exc: BaseException) -> str:
    """One line for the user: the message of an expected failure, a short fallback for a bug."""
    if isinstance(exc, InspectorError):
        return exc.gui_message  # the window's wording (its controls, not the command line's flags)
    text = " ".join(str(exc).split()) or "no details"
    line = f"unexpected error ({type(exc).__name__}): {text}"
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def wait_for_workers(msecs: int = -1) -> bool:
    """Wait for every worker thread still running (those a window's time-limited close left), at most ``msecs``
    in all: ``main()`` calls it once the window is gone, so no ``QThread`` outlives the application."""
    deadline = Deadline(msecs)
    return all(worker.wait(deadline.remaining_ms()) for worker in list(_ALIVE))


def running_workers() -> list[JobWorker]:
    """Workers whose thread is still running (tests assert none is left behind)."""
    return [w for w in _ALIVE if w.is_running()]


class _Cancelled:
    """Marker returned by :meth:`_JobThread._drive` when it stopped at a cancel request."""


class _JobThread(QThread):
    """Drives the generator; its signals are relayed by the owning :class:`JobWorker` on the GUI thread."""

    yielded = Signal(object)
    returned = Signal(object)
    raised = Signal(object)

    def __init__(self, make_job: MakeJob, cancel: threading.Event, name: str, interval: float):
        super().__init__()
        self.setObjectName(f"job:{name}")
        self._make_job = make_job
        self._cancel = cancel
        self._name = name
        self._interval = interval

    def run(self) -> None:
        try:
            with stop_flag(self._cancel):  # steps that cannot yield stop at their cancel_point()s
                result = self._drive(self._make_job())
        except CancelledError:
            return
        except Exception as exc:  # every failure must reach the user as a message, never kill the app
            if not isinstance(exc, InspectorError):
                log.error("job %r failed", self._name, exc_info=exc)
            self.raised.emit(exc)
            return
        if not isinstance(result, _Cancelled):
            self.returned.emit(result)

    def _drive(self, job) -> Any:
        last_emit, last_message = 0.0, None
        while True:
            if self._cancel.is_set():
                job.close()
                return _Cancelled()
            try:
                record = next(job)
            except StopIteration as stop:
                return stop.value
            now = time.monotonic()
            message = getattr(record, "message", None)
            done = getattr(record, "total", 0) and record.done >= record.total
            if done or message != last_message or now - last_emit >= self._interval:
                last_emit, last_message = now, message
                self.yielded.emit(record)


class JobWorker(QObject):
    """One core job on its own thread. Every signal is emitted on the GUI thread.

    Signals:
        progress(object): a ``Progress`` record, throttled to ~20 a second (a record with ``done == total``
            and one with a new message always pass).
        finished(object): the job's return value.
        failed(str): one line for the user: ``InspectorError.gui_message``, or a short fallback for anything else
            (whose traceback goes to the log). The exception itself is kept in :attr:`error`.
        cancelled(): the job stopped because :meth:`cancel` was called (or it raised ``CancelledError``).
        stopped(): the thread has ended, whatever the outcome; always the last signal.
    """

    progress = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    stopped = Signal()

    def __init__(self, make_job: MakeJob, name: str = "job", progress_interval: float = PROGRESS_INTERVAL_S):
        super().__init__()
        self.name = name
        self.error: BaseException | None = None
        self._cancel = threading.Event()
        self._outcome_sent = False
        self._thread = _JobThread(make_job, self._cancel, name, progress_interval)
        self._thread.yielded.connect(self._on_job_yielded)
        self._thread.returned.connect(self._on_job_returned)
        self._thread.raised.connect(self._on_job_raised)
        self._thread.finished.connect(self._on_thread_finished)

    # -- control (GUI thread) ----------------------------------------------------------------------------
    def start(self) -> None:
        _ALIVE.add(self)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the job to stop at its next yield; no progress/finished/failed is emitted after this."""
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, msecs: int = -1) -> bool:
        """Block until the thread ends (``msecs < 0``: no limit); True when it has ended."""
        return self._thread.wait() if msecs < 0 else self._thread.wait(msecs)

    def stop(self, msecs: int = -1) -> bool:
        """Cancel, then wait for the thread to end."""
        self.cancel()
        return self.wait(msecs)

    # -- relays from the thread (queued onto the GUI thread) ---------------------------------------------
    @Slot(object)
    def _on_job_yielded(self, record) -> None:
        if not self._cancel.is_set():
            self.progress.emit(record)

    @Slot(object)
    def _on_job_returned(self, result) -> None:
        if not self._cancel.is_set():
            self._outcome_sent = True
            self.finished.emit(result)

    @Slot(object)
    def _on_job_raised(self, exc) -> None:
        self.error = exc
        if not self._cancel.is_set():
            self._outcome_sent = True
            self.failed.emit(user_message(exc))

    @Slot()
    def _on_thread_finished(self) -> None:
        if not self._outcome_sent:
            self.cancelled.emit()
        self.stopped.emit()
        _ALIVE.discard(self)


class WorkerSlot:
    """At most one current job for one owner: starting a job cancels the one before it.

    Callbacks run on the GUI thread and only for the current job, so a result that arrives after the owner
    moved on (a new selection, a new file) is dropped. :meth:`shutdown` cancels every job this slot started
    and waits for their threads: call it from the owner's close.
    """

    def __init__(self, name: str):
        self.name = name
        self._current: JobWorker | None = None
        self._started: list[JobWorker] = []

    def start(
        self,
        make_job: MakeJob,
        on_finished: Callable[[Any], None],
        on_failed: Callable[[str], None],
        on_progress: Callable[[Any], None] | None = None,
    ) -> JobWorker:
        self.cancel()
        worker = JobWorker(make_job, self.name)
        worker.finished.connect(partial(self._deliver, worker, on_finished))
        worker.failed.connect(partial(self._deliver, worker, on_failed))
        if on_progress is not None:
            worker.progress.connect(partial(self._deliver_progress, worker, on_progress))
        self._started = [w for w in self._started if w.is_running()] + [worker]
        self._current = worker
        worker.start()
        return worker

    def _deliver(self, worker: JobWorker, callback: Callable[[Any], None], value: Any) -> None:
        if worker is self._current:
            self._current = None
            callback(value)

    def _deliver_progress(self, worker: JobWorker, callback: Callable[[Any], None], record: Any) -> None:
        if worker is self._current:
            callback(record)

    @property
    def current(self) -> JobWorker | None:
        return self._current

    def is_busy(self) -> bool:
        """True while the current job has not delivered its outcome."""
        return self._current is not None

    def cancel(self) -> None:
        """Cancel the current job (its thread ends at its next yield); its callbacks will not run."""
        if self._current is not None:
            self._current.cancel()
            self._current = None

    def shutdown(self, msecs: int = -1) -> bool:
        """Cancel every job started here and wait for their threads, at most ``msecs`` in all (``< 0``: no
        limit, ``0``: only cancel); True when all have ended. A thread still running stays tracked (and alive,
        see :data:`_ALIVE`), so a later ``shutdown()`` waits for it."""
        self.cancel()
        for worker in self._started:
            worker.cancel()
        deadline = Deadline(msecs)
        ended = all(worker.wait(deadline.remaining_ms()) for worker in self._started)
        self._started = [w for w in self._started if w.is_running()]
        return ended


class Deadline:
    """A time limit shared by several waits: :meth:`remaining_ms` is what is left of it (``-1``: none)."""

    def __init__(self, msecs: int = -1):
        self._end = None if msecs < 0 else time.monotonic() + msecs / 1000

    def remaining_ms(self) -> int:
        if self._end is None:
            return -1
        return max(0, int((self._end - time.monotonic()) * 1000))
