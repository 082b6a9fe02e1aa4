"""Closing the window or cancelling during a large load returns at once; a close waits at most its limit."""

import threading
import time

import pytest
from faults_fixtures import write_many_entries

from inspector.core.jobs import Progress
from inspector.ui.worker import CLOSE_WAIT_MS, WorkerSlot, running_workers, wait_for_workers

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")


def _start_big_load(qtbot, window, tmp_path, monkeypatch):
    """Open a 2,000-entry file and return once its load is inside the unpickler. The first cancel point there
    holds until the stop request comes (or 10 s), so the test never races a load that finishes first; what is
    measured is how fast a stop request ends the thread."""
    from inspector.core import jobs
    from inspector.core.checkpoint import safe_unpickle

    inside = threading.Event()

    def held_cancel_point():
        if not inside.is_set():
            inside.set()
            flag = jobs._STOP_FLAG.get()
            if flag is not None:
                flag.wait(10)
        jobs.cancel_point()

    monkeypatch.setattr(safe_unpickle, "cancel_point", held_cancel_point)
    path = write_many_entries(tmp_path)
    window.open_file(str(path))
    qtbot.waitUntil(inside.is_set, timeout=20000)


def test_closing_during_a_2000_entry_load_ends_its_thread_at_once(qtbot, window, tmp_path, monkeypatch):
    _start_big_load(qtbot, window, tmp_path, monkeypatch)
    started = time.monotonic()
    window.close()
    closed_in = time.monotonic() - started
    print(f"close during load: {closed_in * 1000:.1f} ms")
    assert not running_workers()  # the load stopped inside the unpickler, not at its next stage
    assert closed_in < 1.0  # 200 ms is the aim (measured ~10-30 ms); generous on a shared CI machine
    assert window.checkpoint is None


def test_cancel_during_a_2000_entry_load_stops_its_thread(qtbot, window, tmp_path, monkeypatch):
    _start_big_load(qtbot, window, tmp_path, monkeypatch)
    worker = window._loads.current
    started = time.monotonic()
    window.cancel_button.click()
    assert worker.wait(1000)
    stopped_in = time.monotonic() - started
    print(f"cancel during load: thread ended {stopped_in * 1000:.1f} ms after Cancel")
    assert stopped_in < 1.0
    assert window.message_label.text() == "Loading cancelled."
    assert window.checkpoint is None


def test_shutdown_waits_at_most_its_limit_for_a_job_that_does_not_yield(qtbot):
    started, release = threading.Event(), threading.Event()

    def stuck_job():
        started.set()
        release.wait(10)  # a step with no cancel point: a close must not wait for it
        yield Progress(1, 1, "done")

    slot = WorkerSlot("stuck")
    slot.start(stuck_job, on_finished=lambda _: None, on_failed=lambda _: None)
    assert started.wait(5)
    begun = time.monotonic()
    assert not slot.shutdown(CLOSE_WAIT_MS)
    waited = time.monotonic() - begun
    assert CLOSE_WAIT_MS / 1000 - 0.02 <= waited < CLOSE_WAIT_MS / 1000 + 0.5
    release.set()
    assert wait_for_workers(5000)
    assert slot.shutdown()
