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


# -- the Features tab ----------------------------------------------------------------------------------------
DEMO_CHECKPOINT = "resources/demo_mnist_cnn.pth"
FEATURES_TIMEOUT = 30000  # ms: a first forward pass imports torchvision & co. on a loaded machine


def make_view(qtbot):
    """A Features view at a test's size, with its own session (no checkpoint yet)."""
    from inspector.ui.feature_map_view import FeatureMapView
    from inspector.ui.session import Session

    session = Session()
    widget = FeatureMapView(session)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    return session, widget


@pytest.fixture
def view(qtbot):
    """The view on the demo checkpoint, shown, after its first run (the font digit on the canvas)."""
    from inspector.core.checkpoint.loader import load_checkpoint

    session, widget = make_view(qtbot)
    session.set_checkpoint(load_checkpoint(DEMO_CHECKPOINT))
    with qtbot.waitSignal(widget.result_shown, timeout=FEATURES_TIMEOUT):
        widget.show()
    yield widget
    widget.shutdown()


def run_and_wait(qtbot, view, action):
    """Do ``action`` and wait for the run it starts; the result shown."""
    with qtbot.waitSignal(view.result_shown, timeout=FEATURES_TIMEOUT) as blocker:
        action()
    return blocker.args[0]
