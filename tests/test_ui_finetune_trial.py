"""The window says where a fine-tuned file's Trainable values came from (its own frozen list)."""

from __future__ import annotations

from inspector.cli import main
from inspector.core.checkpoint.entry_tree import EntryNode
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.entry_tree_model import tooltip_text
from tests.finetune_fixtures import write_square_digits, write_untrained_demo


def test_the_tree_tooltip_says_trainable_came_from_the_frozen_list(tmp_path, capsys):
    base, data = write_untrained_demo(tmp_path), write_square_digits(tmp_path / "data", n=100)
    out = tmp_path / "tuned.pth"
    assert main(["finetune", str(base), "--data", f"mnist:{data}", "--limit", "20", "--freeze", "conv1",
                 "--out", str(out)]) == 0  # fmt: skip
    entries = {e.name: e for e in load_checkpoint(str(out)).entries}
    frozen = tooltip_text(EntryNode("weight", "entry", entries["conv1.weight"].key, entries["conv1.weight"]))
    trains = tooltip_text(EntryNode("weight", "entry", entries["fc1.weight"].key, entries["fc1.weight"]))
    assert (
        "frozen: from the file's frozen list" in frozen and "trainable: from the file's frozen list" in trains
    )
