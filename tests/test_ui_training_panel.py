"""The Fine-tune tab: live counts, a short run with curve points, Cancel, save, Copy as command (offscreen)."""

import pytest
import torch
from finetune_fixtures import write_square_digits, write_untrained_demo

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.session import Session
from inspector.ui.training_panel import TrainingPanel

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers", "ui_settings")
TIMEOUT = 60000


@pytest.fixture
def panel(qtbot, tmp_path, ui_settings):
    session = Session()
    widget = TrainingPanel(session, ui_settings)
    qtbot.addWidget(widget)
    session.set_checkpoint(load_checkpoint(str(write_untrained_demo(tmp_path))))
    widget.data_kind.setCurrentText("mnist")
    widget.data_root.setText(str(write_square_digits(tmp_path / "data")))
    widget.freeze_edit.setText("conv1.*, bn1.*, conv2.*")
    widget.batch.setValue(64)
    widget.lr.setValue(3e-3)
    yield widget
    widget.shutdown()


def test_counts_follow_the_patterns(panel):
    trainable, frozen = panel.counts_label.text().split(", ")
    assert frozen == "4,832 frozen parameters" and trainable.startswith("101")
    panel.freeze_edit.setText("")
    assert panel.counts_label.text().endswith(" 0 frozen parameters")


def test_a_short_run_draws_curves_checks_frozen_and_saves(qtbot, panel, tmp_path):
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
    result = panel.result
    assert result.frozen_unchanged and result.val_accuracy_after > result.val_accuracy_before
    assert len(panel.loss_curve.getData()[0]) >= 1 and len(panel.acc_curve.getData()[0]) == 2
    assert "bitwise unchanged" in panel.status.text()
    out = panel.save(str(tmp_path / "tuned.pth"))
    saved = torch.load(out, weights_only=True)
    assert saved["frozen"][:2] == ["conv1.weight", "conv1.bias"]
    assert panel.save(panel.session.checkpoint.path) is None  # never over the base file without confirming
    assert "being fine-tuned" in panel.status.text()


def test_cancel_stops_between_batches(qtbot, panel):
    panel.batch.setValue(8)
    panel.epochs.setValue(5)
    panel.start()
    qtbot.waitUntil(lambda: panel.progress.value() >= 3, timeout=TIMEOUT)
    panel.cancel()
    assert panel._slot.shutdown(5000)
    assert panel.result is None and not panel.cancel_button.isEnabled() and panel.start_button.isEnabled()
    assert all(torch.isfinite(p).all() for p in panel._run.module.parameters())


def test_copy_as_command_names_the_run(panel):
    line = panel.command()
    assert "finetune" in line and "--freeze 'conv1.*,bn1.*,conv2.*'" in line and "--batch-size 64" in line
