"""Fixtures for the GUI tests: tiny checkpoints with known values, private settings, a window.

A test module loads them with ``pytest_plugins = ["ui_fixtures"]``; with
``pytestmark = pytest.mark.usefixtures("no_dangling_workers")`` every test of the module fails when it leaves
a worker thread running.
"""

from __future__ import annotations

import threading

import pytest
import torch
from PySide6.QtCore import QSettings

from inspector.core.jobs import Progress
from inspector.ui.worker import running_workers


def tiny_state_dict() -> dict[str, torch.Tensor]:
    """Three modules with values whose statistics are easy to state.

    ``conv1.weight`` is 0..7: min 0, max 7, mean 3.5, sample std 2.44949, one zero (12.5%).
    """
    return {
        "conv1.weight": torch.arange(8, dtype=torch.float32).reshape(2, 1, 2, 2),
        "conv1.bias": torch.tensor([0.5, -0.5]),
        "conv2.weight": torch.ones(3, 2, 2, 2),
        "conv2.bias": torch.zeros(3),
        "fc.weight": torch.full((4, 12), 0.25),
        "fc.bias": torch.zeros(4),
    }


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A plain state dict (conv1, conv2, fc) saved with ``torch.save``."""
    path = tmp_path / "tiny.pth"
    torch.save(tiny_state_dict(), path)
    return path


@pytest.fixture
def training_checkpoint(tmp_path):
    """A training checkpoint: the model's state dict in a group beside epoch and loss."""
    path = tmp_path / "train.pth"
    torch.save({"model_state_dict": tiny_state_dict(), "epoch": 3, "loss": 0.125}, path)
    return path


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "bad.pth"
    path.write_bytes(b"this is not a checkpoint")
    return path


@pytest.fixture
def ui_settings(tmp_path):
    """Settings in a temporary INI file, so tests never touch the user's recent files."""
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def private_dirs(tmp_path, monkeypatch):
    """The remembered data root goes to a temporary config folder, never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def window(qtbot, ui_settings):
    from inspector.ui.main_window import MainWindow

    win = MainWindow(ui_settings)
    qtbot.addWidget(win)
    return win


@pytest.fixture
def no_dangling_workers():
    """Whoever starts a worker stops it: fail a test that leaves a job thread running."""
    yield
    left = running_workers()
    for worker in left:
        worker.stop(5000)
    assert not left, f"worker threads left running: {[w.name for w in left]}"


def endless_job(started: threading.Event, closed: threading.Event):
    """A job that yields until it is cancelled; ``closed`` is set when its generator is closed."""
    step = 0
    started.set()
    try:
        while True:
            started.wait(0.002)  # a small piece of "work" between yields
            yield Progress(step, 0, "spinning")
            step += 1
    finally:
        closed.set()


def load_and_wait(qtbot, window, path, trust: bool = False):
    """Open ``path`` in ``window`` and wait until it is shown; returns the Checkpoint."""
    with qtbot.waitSignal(window.checkpoint_loaded, timeout=20000) as blocker:
        window.open_file(str(path), trust=trust)
    return blocker.args[0]
