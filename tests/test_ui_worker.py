"""JobWorker / WorkerSlot: results, errors, cancel between yields, throttled progress, threads stopped."""

import threading

import pytest
from ui_fixtures import endless_job

from inspector.core.errors import CancelledError, InspectorError
from inspector.core.jobs import Progress
from inspector.ui.worker import JobWorker, WorkerSlot, running_workers, user_message

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")


def counting_job(n: int):
    for i in range(n):
        yield Progress(i + 1, n, "counting")
    return n * 10


def test_finished_carries_the_result_and_progress_arrives_first(qtbot):
    worker = JobWorker(lambda: counting_job(3), "count")
    records, results = [], []
    worker.progress.connect(records.append)
    worker.finished.connect(results.append)
    with qtbot.waitSignals([worker.finished, worker.stopped], order="strict", timeout=5000):
        worker.start()
    assert results == [30]
    assert records[-1] == Progress(3, 3, "counting")
    assert not worker.is_running()


def test_job_is_made_on_the_worker_thread(qtbot):
    made_on = []

    def make_job():
        made_on.append(threading.get_ident())
        return counting_job(1)

    worker = JobWorker(make_job)
    with qtbot.waitSignal(worker.stopped, timeout=5000):
        worker.start()
    assert made_on and made_on[0] != threading.get_ident()


def test_inspector_error_becomes_its_message(qtbot):
    def failing():
        yield Progress(0, 1)
        raise InspectorError("x.pth: not a checkpoint; open a .pth file")

    worker = JobWorker(failing)
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.start()
    assert blocker.args == ["x.pth: not a checkpoint; open a .pth file"]
    assert isinstance(worker.error, InspectorError)
    worker.wait()


def test_unexpected_error_becomes_one_line(qtbot, caplog):
    def buggy():
        raise ValueError("boom\nsecond line")
        yield

    worker = JobWorker(buggy)
    with qtbot.waitSignal(worker.failed, timeout=5000) as blocker:
        worker.start()
    assert blocker.args == ["unexpected error (ValueError): boom second line"]
    worker.wait()
    assert "job 'job' failed" in caplog.text  # the traceback goes to the log


def test_cancel_takes_effect_between_yields_and_closes_the_job(qtbot):
    started, closed = threading.Event(), threading.Event()
    worker = JobWorker(lambda: endless_job(started, closed), "endless")
    results = []
    worker.finished.connect(results.append)
    worker.start()
    qtbot.waitUntil(started.is_set, timeout=5000)
    with qtbot.waitSignals([worker.cancelled, worker.stopped], order="strict", timeout=5000):
        worker.cancel()
    assert closed.is_set()
    assert results == []
    assert not worker.is_running()


def test_cancelled_error_raised_by_the_job_counts_as_cancel(qtbot):
    def gives_up():
        yield Progress(0, 1)
        raise CancelledError()

    worker = JobWorker(gives_up)
    failures = []
    worker.failed.connect(failures.append)
    with qtbot.waitSignal(worker.cancelled, timeout=5000):
        worker.start()
    worker.wait()
    assert failures == []


def test_progress_is_throttled_but_the_last_record_arrives(qtbot):
    worker = JobWorker(lambda: counting_job(20000), progress_interval=10.0)
    records = []
    worker.progress.connect(records.append)
    with qtbot.waitSignals([worker.finished, worker.stopped], order="strict", timeout=10000):
        worker.start()  # wait for ``stopped`` too: the thread must be gone before the dangling-worker check
    assert len(records) < 10
    assert records[-1].done == 20000


def test_slot_drops_the_result_of_a_replaced_job(qtbot):
    slot = WorkerSlot("test")
    started, closed = threading.Event(), threading.Event()
    first_results, second_results = [], []
    first = slot.start(lambda: endless_job(started, closed), first_results.append, first_results.append)
    qtbot.waitUntil(started.is_set, timeout=5000)
    second = slot.start(lambda: counting_job(2), second_results.append, second_results.append)
    assert first.is_cancelled() and slot.current is second
    qtbot.waitUntil(lambda: second_results == [20], timeout=5000)
    assert slot.shutdown(5000)
    assert closed.is_set() and first_results == []
    assert not slot.is_busy()


def test_shutdown_stops_every_running_job(qtbot):
    slot = WorkerSlot("test")
    started, closed = threading.Event(), threading.Event()
    slot.start(lambda: endless_job(started, closed), print, print)
    qtbot.waitUntil(started.is_set, timeout=5000)
    assert running_workers()
    assert slot.shutdown(5000)
    assert closed.is_set()
    assert not running_workers()


def test_user_message_clips_long_text():
    message = user_message(RuntimeError("x" * 1000))
    assert message.startswith("unexpected error (RuntimeError): xxx")
    assert len(message) <= 300
