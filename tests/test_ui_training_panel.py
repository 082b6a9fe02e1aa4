"""The Fine-tune tab: live counts, a short run with curve points, Cancel, save, Copy as command (offscreen)."""

import os

import pytest
import torch
from finetune_fixtures import write_square_digits, write_untrained_demo
from PySide6.QtCore import Qt

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.entry_tree_model import TRAINABLE
from inspector.ui.freeze_tree_model import CHECK
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
    widget.show()  # the freeze tree is built when the tab is first shown
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


def test_ticking_the_tree_writes_patterns_and_the_tree_follows_the_box(panel):
    model, tree = panel.freeze_model, panel.freeze_tree
    conv1 = model.index_for_name("conv1.weight").parent()
    assert model.data(conv1, CHECK) == Qt.CheckState.Checked  # from the box: conv1.*, bn1.*, conv2.*
    assert model.data(model.index(0, 0), Qt.ItemDataRole.DisplayRole) == "conv1"  # the group is the root
    horizontal = Qt.Orientation.Horizontal
    assert model.headerData(0, horizontal) == "☑ freeze · name"  # ticked means frozen: said over the boxes
    assert model.headerData(TRAINABLE, horizontal) == "In training"  # not "Trainable" over "frozen" rows
    fc1 = model.index_for_name("fc1.weight").parent()
    assert model.setData(fc1, Qt.CheckState.Checked.value, CHECK)
    assert panel.freeze_edit.text() == "conv1, bn1, conv2, fc1"
    assert panel.counts_label.text() == "650 trainable, 105,248 frozen parameters"
    assert model.setData(model.index_for_name("conv2.bias"), Qt.CheckState.Unchecked.value, CHECK)
    assert panel.freeze_edit.text() == "conv1, bn1, conv2.weight, fc1"
    assert model.data(model.index_for_name("conv2.bias").parent(), CHECK) == Qt.CheckState.PartiallyChecked
    trainable = model.index_for_name("fc2.weight").siblingAtColumn(TRAINABLE)
    assert (
        trainable.data() == "trains"
        and model.index_for_name("bn1.running_mean").siblingAtColumn(TRAINABLE).data() == "stays"
    )
    panel.freeze_edit.setText("")
    panel.all_but_last.setValue(1)
    assert model.data(fc1, CHECK) == Qt.CheckState.Checked and trainable.data() == "trains"
    assert tree.isColumnHidden(1) and not tree.isColumnHidden(0)


def test_a_short_run_draws_curves_checks_frozen_and_saves(qtbot, panel, tmp_path, monkeypatch):
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
    result = panel.result
    assert result.frozen_unchanged and result.val_accuracy_after > result.val_accuracy_before
    assert len(panel.loss_curve.getData()[0]) >= 1 and len(panel.acc_curve.getData()[0]) == 2
    assert "bitwise unchanged" in panel.status.text()
    changes = panel.changes.model
    changed = sorted(changes.diff_row(r).name for r in range(changes.rowCount())
                     if changes.diff_row(r).status == "changed")  # fmt: skip
    assert changed == sorted(result.plan.trainable)
    assert panel.results.isTabEnabled(1) and panel.results.tabText(1) == "Changes (4 of 13 tensors)"
    assert panel.changes.select("fc1.weight") and panel.show_weights_button.isEnabled()
    panel.show_before_after()
    window = panel._before_after
    qtbot.waitUntil(
        lambda: window.before.picture is not None and window.after.picture is not None, timeout=TIMEOUT
    )
    assert window.before.title.text().startswith(
        "before: fc1.weight"
    ) and window.after.title.text().startswith("after")
    assert not (window.before.picture.values == window.after.picture.values).all()
    out = panel.save(str(tmp_path / "tuned.pth"))
    saved = torch.load(out, weights_only=True)
    assert saved["frozen"][:2] == ["conv1.weight", "conv1.bias"]
    assert panel.save(panel.session.checkpoint.path) is None  # never over the base file without confirming
    assert "being fine-tuned" in panel.status.text()
    assert "(or confirm overwrite)" in panel.status.text() and "--force" not in panel.status.text()
    from PySide6.QtWidgets import QMessageBox  # confirmed: the GUI may replace the base file (the CLI never)

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    base = panel.session.checkpoint.path
    os.chmod(base, 0o640)
    assert panel.save(base, confirm=True) == os.path.abspath(base)
    assert torch.load(base, weights_only=True)["frozen"] == saved["frozen"]
    assert os.stat(base).st_mode & 0o777 == 0o640  # a replaced file keeps its mode


def test_cancel_stops_between_batches(qtbot, panel):
    panel.batch.setValue(8)
    panel.epochs.setValue(5)
    panel.start()
    qtbot.waitUntil(lambda: panel.progress.value() >= 3, timeout=TIMEOUT)
    panel.cancel()
    assert panel._slot.shutdown(5000)
    step = panel._last_step  # the bar says where it stopped, without the ETA it showed while running
    assert (
        panel.progress.format() == f"cancelled at epoch {step.epoch}, batch {step.batch}" and step.batch >= 3
    )
    assert panel.result is None and not panel.cancel_button.isEnabled() and panel.start_button.isEnabled()
    assert all(torch.isfinite(p).all() for p in panel._run.module.parameters())


def test_the_status_follows_the_phase_and_the_before_point_is_drawn_when_measured(qtbot, panel):
    from inspector.core.training.loop import StepRecord

    panel.epochs.setValue(2)
    seen = []  # (status, accuracy points drawn, payload) after each progress record
    on_progress = panel._on_progress

    def spy(record):
        on_progress(record)
        seen.append((panel.status.text(), len(panel._vals), record.payload))

    panel._on_progress = spy  # the slot calls what start() finds here
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
    steps = [(status, drawn) for status, drawn, payload in seen if isinstance(payload, StepRecord)]
    assert steps[0] == ("training: epoch 1/2", 1)  # the epoch-0 point is on the curve before the first step
    assert ("training: epoch 2/2", 2) in steps  # and epoch 1's once it was measured
    statuses = [status for status, _, _ in seen]
    first_step = statuses.index("training: epoch 1/2")
    assert "measuring validation accuracy before training" in statuses[:first_step]
    assert not any("before training" in s for s in statuses[first_step:])  # never stale during training
    assert any(s.startswith("epoch 1 done: validation accuracy") for s in statuses[first_step:])
    assert len(panel.acc_curve.getData()[0]) == 3  # epochs 0, 1, 2: the before point is not drawn twice


def test_remembered_patterns_from_another_file_are_said_and_can_be_cleared(qtbot, tmp_path, ui_settings):
    ui_settings.setValue("finetune/freeze", "conv1, bn1")
    ui_settings.setValue("finetune/freeze_from", "/elsewhere/demo_mnist_cnn.pth")  # an earlier run's file
    session = Session()
    panel = TrainingPanel(session, ui_settings)
    qtbot.addWidget(panel)
    panel.show()
    session.set_checkpoint(load_checkpoint(str(write_untrained_demo(tmp_path))))
    assert panel.carried_note.isVisible() and panel.carried_label.text() == (
        "freeze patterns from the last run (demo_mnist_cnn.pth); Clear to start over"
    )
    conv1 = panel.freeze_model.index_for_name("conv1.weight").parent()
    assert panel.freeze_model.data(conv1, CHECK) == Qt.CheckState.Checked  # still remembered, as asked
    panel.clear_freeze_button.click()
    assert panel.freeze_edit.text() == "" and not panel.carried_note.isVisible()
    assert panel.counts_label.text().endswith(" 0 frozen parameters")
    assert panel.freeze_model.data(conv1, CHECK) == Qt.CheckState.Unchecked
    panel.shutdown()


def test_a_run_s_patterns_carry_a_note_to_the_next_file_only(qtbot, panel, tmp_path):
    assert not panel.carried_note.isVisible()  # patterns set for this very file
    panel.limit.setValue(64)
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
    first = panel.session.checkpoint.path
    other = load_checkpoint(str(write_untrained_demo(tmp_path, seed=1, name="other.pth")))
    panel.session.set_checkpoint(other)
    assert panel.carried_note.isVisible()
    assert panel.carried_label.text().startswith(
        f"freeze patterns from the last run ({os.path.basename(first)})"
    )
    panel.session.set_checkpoint(load_checkpoint(first))  # back to the file they were run on: nothing to say
    assert not panel.carried_note.isVisible()
    panel.session.set_checkpoint(other)
    panel.freeze_edit.textEdited.emit("conv1.*")  # the user picks patterns for this file: the note goes
    assert not panel.carried_note.isVisible()


def test_copy_as_command_names_the_run(panel):
    line = panel.command()
    assert "finetune" in line and "--freeze 'conv1.*,bn1.*,conv2.*'" in line and "--batch-size 64" in line


def test_settings_are_remembered_and_the_tensorboard_log_is_written(qtbot, panel, tmp_path, ui_settings):
    logs = tmp_path / "tb"
    panel.tensorboard.setText(str(logs))
    panel.limit.setValue(256)
    panel.new_head.setValue(10)
    panel.update_bn.setChecked(True)
    assert "--new-head 10" in panel.command() and "--update-frozen-bn" in panel.command()
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(logs))
    assert f"tensorboard --logdir {logs}" in panel.status.text()
    again = TrainingPanel(Session(), ui_settings)
    qtbot.addWidget(again)
    assert (again.limit.value(), again.new_head.value(), again.update_bn.isChecked(), again.tensorboard.text()) == (
        256, 10, True, str(logs))  # fmt: skip
    again.shutdown()


def test_a_new_file_clears_the_last_run_and_every_batch_is_a_loss_point(qtbot, panel, tmp_path):
    panel.start()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=TIMEOUT)
    batches = -(-len(panel._run.data.train) // panel.batch.value())
    assert len(panel.loss_curve.getData()[0]) == batches  # on the CPU every batch's loss is drawn
    assert "data: only the test split is present" in panel.status.text()
    panel.session.set_checkpoint(
        load_checkpoint(str(write_untrained_demo(tmp_path, seed=1, name="other.pth")))
    )
    steps = panel.loss_curve.getData()[0]
    assert panel.status.text() == "" and (steps is None or len(steps) == 0)
    assert panel.progress.value() <= 0 and not panel.results.isTabEnabled(1)


def test_copy_as_command_keeps_trust_for_a_model_class(panel):
    panel.session.set_model_class("/tmp/mynet.py:TinyNet", trusted=True)
    line = panel.command()
    assert "--model-class /tmp/mynet.py:TinyNet" in line and "--trust" in line


def test_the_freeze_tree_is_built_when_the_tab_is_first_shown(qtbot, tmp_path, ui_settings):
    session = Session()
    hidden = TrainingPanel(session, ui_settings)
    qtbot.addWidget(hidden)
    session.set_checkpoint(load_checkpoint(str(write_untrained_demo(tmp_path))))
    assert hidden.freeze_model.rowCount() == 0 and hidden.start_button.isEnabled()
    hidden.show()
    assert hidden.freeze_model.rowCount() == 5 and len(hidden.freeze_model.parameter_names) == 10
    hidden.shutdown()
