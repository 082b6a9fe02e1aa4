"""The new-user trial's GUI findings: the Warnings section holds the inspector's own warnings, never torch's
internal ones (before: TypedStorage and quantized-tensor deprecation notices); the Weights view says a quantized
weight is shown dequantized with which scale and zero point; an RGB composite has no colour bar and its caption
says how it was scaled."""

import pytest
import quantized_factory as qf

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.metadata_panel import MetadataPanel

needs_engine = pytest.mark.skipif(qf.engine() is None, reason="no quantized engine on this CPU")


@needs_engine
def test_metadata_panel_shows_no_torch_warnings_for_a_quantized_file(qtbot, tmp_path, torch_warns_again):
    paths = qf.write_all(tmp_path, qf.static_conv_net(), "q")
    panel = MetadataPanel()
    qtbot.addWidget(panel)
    panel.set_checkpoint(load_checkpoint(paths["torchscript"]))
    sections = [panel.model.item(row, 0).text() for row in range(panel.model.rowCount())]
    assert "Totals" in sections
    assert "Warnings" in sections and not panel.section_values("Warnings")


@needs_engine
def test_weights_view_title_and_stats_caption_say_dequantized(qtbot, tmp_path):
    from inspector.core.checkpoint.packed_params import dequantized_note
    from inspector.ui.weight_view import WeightView

    path = qf.write_all(tmp_path, qf.static_conv_net(), "q")["state_dict"]
    ckpt = load_checkpoint(path)
    view = WeightView()
    view.resize(800, 700)
    qtbot.addWidget(view, before_close_func=lambda w: w.shutdown())
    entry = ckpt.entry("features.0.weight")
    note = dequantized_note("qint8", entry.quantization)
    with qtbot.waitSignal(view.view_shown, timeout=10_000):
        view.set_tensor(ckpt, entry)
    qtbot.waitUntil(lambda: view.summary is not None, timeout=10_000)
    assert view.title.text().endswith(f"qint8, shown {note}") and "scales" in note
    assert view.stats_label.text().startswith(f"Statistics of the values {note}:\n")
    with qtbot.waitSignal(view.view_shown, timeout=10_000):
        view.set_tensor(ckpt, ckpt.entry("features.0.bias"))
    qtbot.waitUntil(lambda: view.summary is not None and view.summary is not None, timeout=10_000)
    qtbot.waitUntil(lambda: view.stats_label.text().startswith("Min"), timeout=10_000)
    assert "dequantized" not in view.title.text()


def test_weights_view_rgb_composite_has_no_colour_bar_and_its_caption_gives_the_scale(qtbot, tmp_path):
    import torch

    from inspector.ui.weight_view import WeightView

    torch.save({"conv1.weight": torch.randn(6, 3, 5, 5), "conv2.weight": torch.randn(4, 2, 3, 3)},
               tmp_path / "w.pth")  # fmt: skip
    ckpt = load_checkpoint(tmp_path / "w.pth")
    view = WeightView()
    view.resize(800, 700)
    qtbot.addWidget(view, before_close_func=lambda w: w.shutdown())
    view.show()
    with qtbot.waitSignal(view.view_shown, timeout=10_000):
        view.set_tensor(ckpt, ckpt.entry("conv1.weight"))
    assert view.picture.composite and not view.colorbar.isVisible()
    assert "RGB = input channels 0-2, grey = 0, each filter scaled to ±1 by its max" in view.info.text()
    with qtbot.waitSignal(view.view_shown, timeout=10_000):
        view.set_tensor(ckpt, ckpt.entry("conv2.weight"))
    assert not view.picture.composite and view.colorbar.isVisible()


def test_gui_counts_of_one_are_singular(qtbot, tmp_path, monkeypatch):
    import torch

    from inspector.ui.entry_details import EntryDetails
    from inspector.ui.metadata_panel import describe_value

    assert describe_value([3]) == "list, 1 item" and describe_value([3, 4]) == "list, 2 items"
    torch.save({"step": torch.tensor(7)}, tmp_path / "s.pth")
    ckpt = load_checkpoint(tmp_path / "s.pth")
    details = EntryDetails()
    qtbot.addWidget(details, before_close_func=lambda w: w.shutdown())
    details.set_checkpoint(ckpt)
    monkeypatch.setattr(details._stats_jobs, "start", lambda *args, **kwargs: None)  # keep the caption up
    details.show_entry(ckpt.entry("step"))
    assert details.stats_status.text() == "Computing statistics over 1 element…"


def test_the_details_hint_says_to_open_a_file_when_none_is_open(qtbot):
    """After a failed open (or at start) the pane said "Select a tensor…" with no file open to select from."""
    from inspector.ui.entry_details import EntryDetails

    details = EntryDetails()
    qtbot.addWidget(details)
    assert details.title.text().startswith("Open a checkpoint")
    details.set_checkpoint(object())  # any open file
    assert details.title.text().startswith("Select a tensor")
    details.set_checkpoint(None)
    assert details.title.text().startswith("Open a checkpoint")
