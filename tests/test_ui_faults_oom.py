"""Out of GPU memory in the Features and Fine-tune tabs (simulated): the message, Retry on CPU, the app usable."""

import pytest
from finetune_fixtures import write_square_digits, write_untrained_demo
from test_faults_oom import oom_once

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.feature_map_view import FeatureMapView
from inspector.ui.session import Session
from inspector.ui.training_panel import TrainingPanel

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers", "private_dirs")
DEMO = "resources/demo_mnist_cnn.pth"
TIMEOUT = 60000


def test_features_out_of_memory_offers_retry_on_cpu(qtbot, monkeypatch):
    held = oom_once(monkeypatch)
    session = Session()
    view = FeatureMapView(session)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    session.set_checkpoint(load_checkpoint(DEMO))
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT) as failed:
        view.show()
    assert failed.args[0].startswith("out of GPU memory on cpu") and "released" in failed.args[0]
    assert view.retry_cpu_button.isVisible() and not view.is_busy()
    assert held[0]() is None
    with qtbot.waitSignal(view.result_shown, timeout=TIMEOUT) as shown:
        view.retry_cpu_button.click()
    assert shown.args[0].device == "cpu" and view.device() == "cpu"
    assert not view.retry_cpu_button.isVisible() and "ran on cpu" in view.status.text()
    view.shutdown()


def test_a_failure_that_is_not_out_of_memory_offers_no_retry(qtbot, monkeypatch):
    from inspector.core.models.demo import MnistCNN

    def broken(self, x):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(MnistCNN, "forward", broken)
    session = Session()
    view = FeatureMapView(session)
    qtbot.addWidget(view)
    session.set_checkpoint(load_checkpoint(DEMO))
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT):
        view.show()
    assert not view.retry_cpu_button.isVisible()
    view.shutdown()


def test_training_out_of_memory_offers_retry_on_cpu(qtbot, monkeypatch, tmp_path, ui_settings):
    oom_once(monkeypatch)
    session = Session()
    panel = TrainingPanel(session, ui_settings)
    qtbot.addWidget(panel)
    panel.show()
    session.set_checkpoint(load_checkpoint(str(write_untrained_demo(tmp_path))))
    panel.data_kind.setCurrentText("mnist")
    panel.data_root.setText(str(write_square_digits(tmp_path / "data", n=200)))
    panel.batch.setValue(64)
    panel.start()
    qtbot.waitUntil(lambda: panel.retry_cpu_button.isVisible(), timeout=TIMEOUT)
    assert (
        panel.status.text().startswith("error: out of GPU memory on cpu")
        and "press Retry on CPU" in panel.status.text()
        and "--" not in panel.status.text()  # the tab's controls, not the command line's flags
    )
    assert panel.start_button.isEnabled() and panel.result is None
    panel.retry_cpu_button.click()
    assert panel.device.currentText() == "cpu"
    qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
    assert panel.result.device == "cpu" and not panel.retry_cpu_button.isVisible()
    panel.shutdown()
