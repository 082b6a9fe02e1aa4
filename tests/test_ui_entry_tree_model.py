"""The entry tree: structure (Qt-free), the item model's contract, filtering and numeric sorting."""

import pytest
from PySide6.QtCore import QModelIndex, Qt

from inspector.core.checkpoint.entry_tree import build_entry_tree
from inspector.core.checkpoint.model import Checkpoint, TensorEntry
from inspector.ui.entry_tree_model import (
    BYTES,
    KIND,
    NAME,
    NUMEL,
    SHAPE,
    TRAINABLE,
    EntryFilterProxyModel,
    EntryTreeModel,
)

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")


def entry(name, group="", shape=(2,), kind="parameter", requires_grad=True):
    numel = 1
    for d in shape:
        numel *= d
    module, _, attr = name.rpartition(".")
    return TensorEntry(name, group, shape, "float32", numel, numel * 4, kind, requires_grad, module, attr)


@pytest.fixture
def grouped():
    """A training checkpoint: a model group with nested modules, and optimizer state in another group."""
    entries = [
        entry("conv1.weight", "model_state_dict", (8, 1, 3, 3)),
        entry("conv1.bias", "model_state_dict", (8,)),
        entry("layer10.0.weight", "model_state_dict", (250, 4)),
        entry("layer2.0.weight", "model_state_dict", (50,)),
        entry("bn.running_mean", "model_state_dict", (8,), kind="buffer", requires_grad=False),
        entry("state.0.exp_avg", "optimizer_state_dict", (8, 1, 3, 3), kind="tensor", requires_grad=False),
    ]
    # keyed as the loader keys them: group/module path (the group alone for its root module)
    classes = {"model_state_dict": "Net", "model_state_dict/conv1": "Conv2d",
               "model_state_dict/layer10": "Sequential", "model_state_dict/layer10.0": "Linear"}  # fmt: skip
    return Checkpoint("/x/train.pth", "training_checkpoint", "zip", entries, module_classes=classes,
                      model_group="model_state_dict")  # fmt: skip


def names(model, parent=QModelIndex()):  # noqa: B008
    return [model.index(r, NAME, parent).data() for r in range(model.rowCount(parent))]


def child(model, *path):
    index = QModelIndex()
    for name in path:
        index = model.index(names(model, index).index(name), 0, index)
    return index


def test_tree_is_group_then_module_path_then_entries(grouped):
    root = build_entry_tree(grouped)
    assert [g.name for g in root.children] == ["model_state_dict", "optimizer_state_dict"]
    model_group = root.children[0]
    assert [c.name for c in model_group.children] == ["conv1", "layer10", "layer2", "bn"]
    assert model_group.class_name == "Net"
    conv1 = model_group.children[0]
    assert conv1.class_name == "Conv2d" and [c.name for c in conv1.children] == ["weight", "bias"]
    assert conv1.numel == 72 + 8 and conv1.nbytes == 4 * 80 and conv1.count == 2
    layer10 = model_group.children[1]
    assert layer10.children[0].name == "0" and layer10.children[0].class_name == "Linear"
    assert layer10.children[0].children[0].path == "model_state_dict/layer10.0.weight"
    optimizer = root.children[1]
    assert optimizer.class_name == ""  # module classes describe the model group only
    assert [c.name for c in optimizer.children[0].children] == ["0"]


def test_plain_state_dict_has_no_group_level():
    ckpt = Checkpoint("/x/sd.pth", "state_dict", "zip", [entry("fc.weight"), entry("scale", shape=())])
    root = build_entry_tree(ckpt)
    assert [c.name for c in root.children] == ["fc", "scale"]
    assert root.children[1].entry is not None


def test_model_passes_the_qt_model_tester(qtmodeltester, grouped):
    model = EntryTreeModel()
    model.set_checkpoint(grouped)
    qtmodeltester.check(model)
    proxy = EntryFilterProxyModel()
    proxy.setSourceModel(model)
    proxy.set_filter_text("weight")
    qtmodeltester.check(proxy)


def test_model_columns_show_formatted_values(grouped):
    model = EntryTreeModel()
    model.set_checkpoint(grouped)
    weight = child(model, "model_state_dict", "conv1", "weight")
    row = [model.index(weight.row(), c, weight.parent()).data() for c in range(7)]
    assert row == ["weight", "8×1×3×3", "float32", "72", "288 B", "parameter", "yes"]
    conv1 = child(model, "model_state_dict", "conv1")
    assert model.index(conv1.row(), KIND, conv1.parent()).data() == "Conv2d"
    assert model.index(conv1.row(), NUMEL, conv1.parent()).data() == "80"
    buffer = child(model, "model_state_dict", "bn", "running_mean")
    assert model.index(buffer.row(), TRAINABLE, buffer.parent()).data() == ""
    assert model.index_for_key("model_state_dict/conv1.bias").data() == "bias"


def test_filter_keeps_matches_with_their_parents(grouped):
    model = EntryTreeModel()
    model.set_checkpoint(grouped)
    proxy = EntryFilterProxyModel()
    proxy.setSourceModel(model)

    proxy.set_filter_text("bias")
    assert [e.key for e in proxy.visible_entries()] == ["model_state_dict/conv1.bias"]
    assert names(proxy) == ["model_state_dict"]

    proxy.set_filter_text("conv1")  # a module matches: all of its entries stay
    assert [e.name for e in proxy.visible_entries()] == ["conv1.weight", "conv1.bias"]

    proxy.set_filter_text("layer*.0.weight")
    assert [e.name for e in proxy.visible_entries()] == ["layer10.0.weight", "layer2.0.weight"]

    proxy.set_filter_text("OPTIMIZER exp_avg")  # words combine, case does not matter
    assert [e.name for e in proxy.visible_entries()] == ["state.0.exp_avg"]

    proxy.set_filter_text("nothing-like-this")
    assert proxy.rowCount() == 0
    proxy.set_filter_text("")
    assert len(proxy.visible_entries()) == 6


def test_sorting_compares_numbers_and_names_naturally(grouped):
    model = EntryTreeModel()
    model.set_checkpoint(grouped)
    proxy = EntryFilterProxyModel()
    proxy.setSourceModel(model)

    def modules():
        return names(proxy, child(proxy, "model_state_dict"))

    proxy.sort(NUMEL, Qt.SortOrder.AscendingOrder)  # 8 < 50 < 80 < 1000 (as text, "1,000" would come first)
    assert modules() == ["bn", "layer2", "conv1", "layer10"]
    assert names(proxy) == ["optimizer_state_dict", "model_state_dict"]  # groups sort too: 72 < 1138
    proxy.sort(BYTES, Qt.SortOrder.DescendingOrder)
    assert modules()[0] == "layer10"
    proxy.sort(NAME, Qt.SortOrder.AscendingOrder)
    assert modules() == ["bn", "conv1", "layer2", "layer10"]
    proxy.sort(SHAPE, Qt.SortOrder.AscendingOrder)
    assert names(proxy, child(proxy, "model_state_dict", "conv1")) == [
        "bias",
        "weight",
    ]  # (8,) < (8, 1, 3, 3)
    proxy.sort(-1)  # no sort column: the file's order
    assert modules() == ["conv1", "layer10", "layer2", "bn"]
