"""Flipped bytes inside tensor data are found when the file is opened: the window checks the CRC-32s in the
background and marks the damaged tensors, instead of showing their wrong values as if they were right."""

import pytest
import torch
from PySide6.QtCore import Qt
from ui_fixtures import load_and_wait

from inspector.ui.entry_tree_model import DAMAGED_COLOUR, NAME

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")
TIMEOUT = 20_000


def write_flipped(tmp_path):
    """A state dict whose fc.weight record has one byte flipped in the middle of its data."""
    path = tmp_path / "model.pth"
    torch.save({"conv.weight": torch.ones(4, 1, 3, 3), "fc.weight": torch.arange(4096.0)}, path)
    data = bytearray(path.read_bytes())
    at = data.index(torch.arange(4096.0)[2048:2050].numpy().tobytes())  # inside fc.weight's bytes
    data[at] ^= 0x40
    flipped = tmp_path / "flipped.pth"
    flipped.write_bytes(bytes(data))
    return path, flipped


def row_of(window, key):
    return window.proxy.mapFromSource(window.model.index_for_key(key)).siblingAtColumn(NAME)


def test_a_damaged_tensor_is_marked_and_said_after_open(qtbot, window, tmp_path):
    good, flipped = write_flipped(tmp_path)
    load_and_wait(qtbot, window, str(flipped))
    qtbot.waitUntil(lambda: "damaged on disk" in window.message_label.text(), timeout=TIMEOUT)
    assert "fc.weight" in window.message_label.text() and "File › Verify…" in window.message_label.text()
    assert window.message_label.toolTip().startswith(window.message_label.text())  # cut at the edge: all here
    assert row_of(window, "fc.weight").data(Qt.ItemDataRole.ForegroundRole) == DAMAGED_COLOUR
    assert "CRC-32" in row_of(window, "fc.weight").data(Qt.ItemDataRole.ToolTipRole)
    assert row_of(window, "conv.weight").data(Qt.ItemDataRole.ForegroundRole) is None
    load_and_wait(qtbot, window, str(good))  # the next file starts clean
    qtbot.waitUntil(lambda: not window._background_verify.is_busy(), timeout=TIMEOUT)
    assert "damaged" not in window.message_label.text()
    assert window.message_label.toolTip() == window.message_label.text()
    assert row_of(window, "fc.weight").data(Qt.ItemDataRole.ForegroundRole) is None
