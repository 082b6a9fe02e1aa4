"""The window's Warnings section holds the inspector's own warnings about a file, never torch's internal ones
(before: a quantized file showed TypedStorage and quantized-tensor deprecation notices there)."""

import pytest
import quantized_factory as qf

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.metadata_panel import MetadataPanel

pytestmark = pytest.mark.skipif(qf.engine() is None, reason="no quantized engine on this CPU")


@pytest.fixture
def torch_warns_again():
    """torch warns of TypedStorage's removal once per process: reset that, so this test sees the warning
    whichever test loaded a file first."""
    import torch.storage

    reset = getattr(torch.storage, "_reset_warn_typed_storage_removal", None)
    if reset is not None:
        reset()


def test_metadata_panel_shows_no_torch_warnings_for_a_quantized_file(qtbot, tmp_path, torch_warns_again):
    paths = qf.write_all(tmp_path, qf.static_conv_net(), "q")
    panel = MetadataPanel()
    qtbot.addWidget(panel)
    panel.set_checkpoint(load_checkpoint(paths["torchscript"]))
    sections = [panel.model.item(row, 0).text() for row in range(panel.model.rowCount())]
    assert "Totals" in sections
    assert "Warnings" in sections and not panel.section_values("Warnings")
