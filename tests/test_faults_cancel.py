"""A stop request ends a large load within milliseconds: the unpickler stops at its cancel points."""

import threading
import time

import pytest
from faults_fixtures import write_many_entries

from inspector.core.checkpoint.loader import iter_load_checkpoint
from inspector.core.errors import CancelledError
from inspector.core.jobs import cancel_point, stop_flag


def test_cancel_point_raises_only_inside_a_set_stop_flag():
    cancel_point()  # no job on this thread: nothing to stop
    flag = threading.Event()
    with stop_flag(flag):
        cancel_point()
        flag.set()
        with pytest.raises(CancelledError):
            cancel_point()
    cancel_point()  # the flag belonged to the job that ended


def test_a_stop_request_ends_the_reading_stage_of_a_2000_entry_load(tmp_path):
    path = write_many_entries(tmp_path)
    flag = threading.Event()
    set_at: list[float] = []

    def request_stop():
        set_at.append(time.monotonic())
        flag.set()

    with stop_flag(flag):
        job = iter_load_checkpoint(path)
        assert next(job).message.startswith("opening")
        assert next(job).message.startswith("reading")
        timer = threading.Timer(0.03, request_stop)  # mid-way through unpickling (~0.3 s of it alone)
        timer.start()
        with pytest.raises(CancelledError):
            while True:  # before cancel points, the reading stage ran to its end and the job went on
                record = next(job)
                assert record.message.startswith("reading"), record  # stopped inside the reading stage
        latency = time.monotonic() - set_at[0]
        timer.join()
    print(f"load stopped {latency * 1000:.1f} ms after the stop request")
    assert latency < 1.0  # 200 ms is the aim (measured 0.3-7 ms alone); generous on a loaded shared machine
