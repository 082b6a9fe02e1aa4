"""What the browser says about a training checkpoint: kinds, totals, optimizer state names, the filter."""

import checkpoint_factory as factory
import pytest
from PySide6.QtCore import Qt
from ui_fixtures import load_and_wait

from inspector.core.checkpoint.model import totals_line
from inspector.ui.entry_tree_model import KIND, NAME, TRAINABLE
from inspector.ui.metadata_panel import MetadataPanel

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")
TIMEOUT = 20000


@pytest.fixture
def adam_checkpoint(tmp_path):
    return factory.write_training_checkpoint(tmp_path)


def row_of(window, key):
    source = window.model.index_for_key(key)
    return lambda column: source.siblingAtColumn(column).data()


def test_tree_status_bar_and_metadata_agree_with_the_rows(qtbot, window, adam_checkpoint):
    ckpt = load_and_wait(qtbot, window, adam_checkpoint)
    var = row_of(window, "model_state_dict/bn.running_var")
    weight = row_of(window, "model_state_dict/conv.weight")
    assert (var(KIND), var(TRAINABLE)) == ("buffer*", "")
    assert (weight(KIND), weight(TRAINABLE)) == ("parameter*", "yes")
    assert totals_line(ckpt.totals) in window.message_label.text()
    assert "51 parameters*" in window.message_label.text()
    panel = MetadataPanel()
    qtbot.addWidget(panel)
    panel.set_checkpoint(ckpt)
    totals = panel.section_values("Totals")
    assert totals["parameter elements"] == "51" and totals["trainable elements"] == "51"
    assert (
        totals["buffers"] == "3" and totals["other tensors"] == "18"
    )  # Adam state only, not the model again
    assert "estimated" in totals["kinds"]
    assert int(totals["buffers"]) + int(totals["other tensors"]) + 6 == int(totals["tensors"])
    assert window.model.index_for_key("model_state_dict/conv.weight").siblingAtColumn(NAME).data() == "weight"


def test_filter_totals_and_details_follow_the_filter(qtbot, window, adam_checkpoint):
    ckpt = load_and_wait(qtbot, window, adam_checkpoint)
    window.select_entry("model_state_dict/fc.weight")
    assert window.details.title.text() == "fc.weight"
    qtbot.keyClicks(window.filter_edit, "running")
    visible = window.proxy.visible_entries()
    assert [e.name for e in visible] == ["bn.running_mean", "bn.running_var"]
    assert window.counts_label.text() == f"2 of {len(ckpt.entries)} tensors shown · 4 elements · 16 B"
    assert window.current_entry() is visible[0]  # fc.weight is hidden: Details moved to a shown tensor
    assert window.details.title.text() == "bn.running_mean"
    window.filter_edit.setText("no-such-tensor")
    assert window.counts_label.text().startswith(f"0 of {len(ckpt.entries)} tensors shown · 0 elements · 0 B")
    assert window.current_entry() is None and window.details.title.text() != "bn.running_mean"
    window.filter_edit.clear()
    total_bytes = sum(e.nbytes for e in ckpt.entries)
    assert window.counts_label.text().endswith(f"· {total_bytes} B")


def test_tree_and_details_name_the_parameter_of_optimizer_state(qtbot, window, adam_checkpoint):
    load_and_wait(qtbot, window, adam_checkpoint)
    source = window.model.index_for_key("optimizer_state_dict/state.0.exp_avg")
    assert source.data() == "exp_avg of conv.weight"
    assert source.parent().data() == "0" and source.parent().parent().data() == "state"  # the raw index
    assert "optimizer_state_dict/state.0.exp_avg" in source.data(Qt.ItemDataRole.ToolTipRole)
    window.select_entry("optimizer_state_dict/state.0.exp_avg")
    assert window.details.title.text() == "exp_avg of conv.weight   (state.0.exp_avg)"
    assert "optimizer state of conv.weight" in window.details.tensor_form.values["Kind"].text()
    window.filter_edit.setText("conv.weight exp_avg_sq")  # the filter finds state by its parameter's name
    assert [e.name for e in window.proxy.visible_entries()] == ["state.0.exp_avg_sq"]
