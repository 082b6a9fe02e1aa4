"""The side panels alone: entry details and stats, metadata, summary (lazy), the trust dialog."""

import threading

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog
from ui_fixtures import endless_job

import inspector.ui.entry_details as entry_details_module
import inspector.ui.summary_panel as summary_panel_module
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.jobs import Progress
from inspector.ui.entry_details import EntryDetails
from inspector.ui.metadata_panel import MAX_CHILDREN, MetadataPanel, describe_value, value_children
from inspector.ui.summary_panel import SummaryPanel
from inspector.ui.trust_dialog import TrustDialog

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")


@pytest.fixture
def details(qtbot):
    widget = EntryDetails()
    qtbot.addWidget(widget)
    return widget


def test_details_compute_stats_in_a_worker_and_cache_them(qtbot, details, tiny_checkpoint):
    checkpoint = load_checkpoint(tiny_checkpoint)
    details.set_checkpoint(checkpoint)
    with qtbot.waitSignal(details.stats_shown, timeout=20000) as shown:
        details.show_entry(checkpoint.entry("conv1.bias"))
    assert shown.args[0].numel == 2
    assert details.stats_text("Min") == "-0.5" and details.stats_text("Max") == "0.5"
    assert details.tensor_form.values["Module"].text() == "conv1"

    with qtbot.waitSignal(details.stats_shown, timeout=1000):
        details.show_entry(checkpoint.entry("conv1.bias"))  # from the cache
    assert not details.is_busy()


def test_a_new_selection_cancels_the_previous_stats_job(qtbot, details, tiny_checkpoint, monkeypatch):
    checkpoint = load_checkpoint(tiny_checkpoint)
    details.set_checkpoint(checkpoint)
    started, closed = threading.Event(), threading.Event()
    real_job = entry_details_module._stats_job
    monkeypatch.setattr(entry_details_module, "_stats_job", lambda c, e: endless_job(started, closed))
    details.show_entry(checkpoint.entry("fc.weight"))
    qtbot.waitUntil(started.is_set, timeout=5000)
    assert details.stats_progress.isVisibleTo(details)

    monkeypatch.setattr(entry_details_module, "_stats_job", real_job)
    with qtbot.waitSignal(details.stats_shown, timeout=20000) as shown:
        details.show_entry(checkpoint.entry("conv2.weight"))
    assert shown.args[0].mean == 1.0
    qtbot.waitUntil(closed.is_set, timeout=5000)  # the first job was closed between two yields
    assert details.title.text() == "conv2.weight"


def test_details_show_a_stats_failure(qtbot, details, tiny_checkpoint, monkeypatch):
    checkpoint = load_checkpoint(tiny_checkpoint)
    details.set_checkpoint(checkpoint)

    def broken(c, e):
        raise OSError("disk went away")

    monkeypatch.setattr(entry_details_module, "_stats_job", broken)
    with qtbot.waitSignal(details.stats_failed, timeout=5000):
        details.show_entry(checkpoint.entry("fc.bias"))
    assert "disk went away" in details.stats_status.text()


def test_metadata_panel_lists_file_totals_and_metadata(qtbot, training_checkpoint):
    panel = MetadataPanel()
    qtbot.addWidget(panel)
    panel.set_checkpoint(load_checkpoint(training_checkpoint))
    file_rows = panel.section_values("File")
    assert file_rows["format"] == "training_checkpoint"
    assert file_rows["model group"] == "model_state_dict"
    assert file_rows["trusted"].startswith("no")
    assert panel.section_values("Totals")["tensors"] == "6"
    assert panel.section_values("Metadata") == {"epoch": "3", "loss": "0.125"}
    panel.set_checkpoint(None)
    assert panel.model.rowCount() == 0


def test_metadata_values_are_summarised_and_capped():
    assert describe_value({"a": 1}) == "dict, 1 keys"
    assert describe_value([1, 2]) == "list, 2 items"
    assert describe_value("x" * 1000).endswith("…")
    children, left = value_children(list(range(1000)))
    assert len(children) == MAX_CHILDREN and left == 1000 - MAX_CHILDREN
    assert children[0] == ("[0]", 0)


def test_summary_is_computed_lazily_when_shown(qtbot, tiny_checkpoint, monkeypatch):
    calls = []

    def fake_summary(checkpoint):
        calls.append(checkpoint.path)
        yield Progress(0, 1, "building model")
        return "Layer (type)   Output Shape   Param #"

    monkeypatch.setattr(summary_panel_module, "_summary_job", fake_summary)
    panel = SummaryPanel()
    qtbot.addWidget(panel)
    panel.set_checkpoint(load_checkpoint(tiny_checkpoint))
    assert calls == []  # hidden: nothing computed
    with qtbot.waitSignal(panel.summary_changed, timeout=5000) as changed:
        panel.show()
    assert changed.args == ["Layer (type)   Output Shape   Param #"]
    assert panel.text.toPlainText().startswith("Layer (type)")
    assert len(calls) == 1


def test_summary_failure_is_shown_as_text(qtbot, tiny_checkpoint):
    panel = SummaryPanel()
    qtbot.addWidget(panel)
    panel.show()
    with qtbot.waitSignal(panel.summary_changed, timeout=30000) as changed:
        panel.set_checkpoint(load_checkpoint(tiny_checkpoint))  # architecture unknown (or no summary module)
    assert changed.args[0]
    if not panel.text.toPlainText():
        assert panel.status.text() == changed.args[0]


def test_trust_dialog_lists_globals_and_defaults_to_no(qtbot):
    dialog = TrustDialog("/x/model.pth", ["mymodel.Net", "os.system"], dangerous=["os.system"])
    qtbot.addWidget(dialog)
    text = dialog.globals_text.toPlainText()
    assert "mymodel.Net" in text and "⚠ os.system" in text
    assert dialog.no_button.isDefault() and not dialog.trust_button.isDefault()
    dialog.show()
    qtbot.waitExposed(dialog)
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        qtbot.keyClick(dialog, Qt.Key.Key_Return)  # Enter picks the default: No
    assert dialog.result() == QDialog.DialogCode.Rejected


def test_trust_dialog_accepts_only_the_trust_button(qtbot):
    dialog = TrustDialog("/x/model.pth", [])
    qtbot.addWidget(dialog)
    assert "no globals" in dialog.globals_text.toPlainText()
    dialog.show()
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted


def test_details_name_the_quantization_and_where_a_packed_weight_was_read(qtbot, details, tmp_path):
    qf = pytest.importorskip("quantized_factory")
    if qf.engine() is None:
        pytest.skip("no quantized engine on this CPU")
    checkpoint = load_checkpoint(qf.write_all(tmp_path, qf.dynamic_linear_net(), "dyn")["module"])
    details.set_checkpoint(checkpoint)
    with qtbot.waitSignal(details.stats_shown, timeout=20000):
        details.show_entry(checkpoint.entry("0.weight"))
    scale = qf.dynamic_linear_net()[0].weight().q_scale()
    assert (
        details.tensor_form.values["Quantization"].text().startswith(f"per-tensor affine: scale {scale:.6g}")
    )
    assert "dequantized" in details.tensor_form.values["Quantization"].text()
    assert details.tensor_form.values["Stored in"].text().startswith("0._packed_params")
    assert not details.tensor_form.values["Stored in"].isHidden()
    with qtbot.waitSignal(details.stats_shown, timeout=20000):
        details.show_entry(checkpoint.entry("0.bias"))
    assert details.tensor_form.values["Quantization"].isHidden()


class _WithStride(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 1)
        self.stride = torch.tensor([8.0, 16.0])


def test_details_say_an_attribute_is_a_plain_module_attribute(qtbot, details, tmp_path):
    path = tmp_path / "with_stride.pt"
    torch.save(_WithStride(), path)
    checkpoint = load_checkpoint(path)
    details.set_checkpoint(checkpoint)
    with qtbot.waitSignal(details.stats_shown, timeout=20000):
        details.show_entry(checkpoint.entry("stride"))
    assert details.tensor_form.values["Kind"].text().startswith("attribute (a plain tensor attribute")
    assert details.stats_text("Max") == "16"
