"""Tensors a pickled module holds as plain attributes are part of the file: listed under their module, kind
``attribute`` (tree, Details tooltip, JSON), opened untrusted.

The modules are defined here, as a YOLO ``Detect`` head (``stride``, ``anchor_grid`` list, ``grid`` tuple with a
``None``) and a model with ``class_weights`` (a tensor and a dict of tensors) and an attribute that aliases a
buffer (listed once, recorded as shared). Saved with ``torch.save(model)`` and as TorchScript.
"""

import json
from typing import Optional

import pytest
import torch
from torch import nn

from inspector.cli import main
from inspector.core.checkpoint.entry_tree import build_entry_tree
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.ui.entry_tree_model import tooltip_text


class Detect(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = nn.ModuleList(nn.Conv2d(4, 6, 1) for _ in range(2))
        self.stride = torch.tensor([8.0, 16.0])
        self.anchor_grid = [torch.arange(24.0).reshape(1, 3, 2, 2, 2), torch.full((1, 3, 1, 1, 2), 0.5)]
        self.grid = (torch.zeros(1), None)
        self.register_buffer("anchors", torch.ones(2, 3))

    def forward(self, x):
        return self.m[0](x) * self.stride[0] + self.anchor_grid[0].sum() + self.anchors.sum()


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = nn.Sequential(nn.Conv2d(3, 4, 3), Detect())
        self.class_weights = torch.tensor([1.0, 2.0, 0.5])
        self.per_class = {"cat": torch.tensor([3.0]), "dog": torch.tensor([4.0, 5.0])}
        self.anchors_seen = self.model[1].anchors  # a plain attribute: the same tensor as a buffer
        self.names = ["cat", "dog", "bird"]

    def forward(self, x):
        return self.model(x)


ATTRIBUTES = {
    "class_weights": (3,), "per_class.cat": (1,), "per_class.dog": (2,), "model.1.stride": (2,),
    "model.1.anchor_grid.0": (1, 3, 2, 2, 2), "model.1.anchor_grid.1": (1, 3, 1, 1, 2), "model.1.grid.0": (1,),
}  # fmt: skip


@pytest.fixture
def pickled_model(tmp_path):
    torch.manual_seed(0)
    model = Model()
    path = tmp_path / "detector.pt"
    torch.save(model, path)
    return path, model


def _by_name(ckpt):
    return {e.name: e for e in ckpt.entries}


def test_plain_tensor_attributes_listed_under_their_module(pickled_model, monkeypatch):
    path, model = pickled_model
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("untrusted bytes reached torch.load"))
    ckpt = load_checkpoint(path)
    assert not ckpt.trusted and "test_module_attributes.Model" in ckpt.stubbed_globals
    by_name = _by_name(ckpt)
    for name, shape in ATTRIBUTES.items():
        assert by_name[name].kind == "attribute" and by_name[name].shape == shape, name
        assert not by_name[name].requires_grad
    assert by_name["model.1.anchors"].kind == "buffer"  # registered: a buffer, not an attribute
    assert by_name["model.1.m.0.weight"].kind == "parameter"
    assert by_name["model.1.stride"].module == "model.1" and by_name["model.1.stride"].attr == "stride"
    assert torch.equal(ckpt.tensor("model.1.anchor_grid.0"), model.model[1].anchor_grid[0])
    assert torch.equal(ckpt.tensor("per_class.dog"), model.per_class["dog"])
    assert ckpt.tensor("class_weights").tolist() == [1.0, 2.0, 0.5]


def test_an_attribute_aliasing_a_buffer_is_listed_once(pickled_model):
    ckpt = load_checkpoint(pickled_model[0])
    assert "anchors_seen" not in _by_name(ckpt)
    assert ckpt.shared_objects["anchors_seen"] == "model.1.anchors"
    assert sum(1 for e in ckpt.entries if e.shape == (2, 3)) == 1


def test_attributes_in_the_tree_and_tooltip(pickled_model):
    ckpt = load_checkpoint(pickled_model[0])
    tree = build_entry_tree(ckpt)
    detect = next(n for n in tree.children if n.name == "model")
    detect = next(n for n in detect.children if n.name == "1")
    grid = next(n for n in detect.children if n.name == "anchor_grid")
    assert [c.name for c in grid.children] == ["0", "1"]
    leaf = grid.children[0]
    assert leaf.entry.kind == "attribute"
    assert "attribute: a plain tensor attribute of its module" in tooltip_text(leaf)


def test_cli_list_json_marks_attributes(pickled_model, capsys):
    assert main(["list", str(pickled_model[0]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kinds = {row["name"]: row["kind"] for row in doc["entries"]}
    assert {name: kinds[name] for name in ATTRIBUTES} == dict.fromkeys(ATTRIBUTES, "attribute")
    assert doc["totals"]["tensors"] == len(ATTRIBUTES)  # neither parameters nor buffers


def test_trusted_module_lists_the_same_attributes(pickled_model):
    ckpt = load_checkpoint(pickled_model[0], trust=True)
    assert isinstance(ckpt.raw, Model)
    by_name = _by_name(ckpt)
    assert {name: by_name[name].kind for name in ATTRIBUTES} == dict.fromkeys(ATTRIBUTES, "attribute")
    assert "anchors_seen" not in by_name


class ScriptedHead(nn.Module):
    grid: Optional[torch.Tensor]  # noqa: UP045 (TorchScript reads typing.Optional)

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 6, 1)
        self.stride = torch.tensor([8.0, 16.0])
        self.anchor_grid = [torch.ones(1, 3, 2, 2, 2), torch.zeros(1, 3, 1, 1, 2)]
        self.register_buffer("anchors", torch.ones(2, 3))

    def forward(self, x):
        return self.conv(x) * self.stride[0] + self.anchor_grid[0].sum() + self.anchors.sum()


def test_torchscript_attributes_are_not_buffers(tmp_path, monkeypatch):
    path = tmp_path / "head.pt"
    with pytest.warns(FutureWarning):  # torch.jit's deprecation notice
        torch.jit.save(torch.jit.script(ScriptedHead()), path)
    monkeypatch.setattr(
        torch.jit, "load", lambda *a, **k: pytest.fail("untrusted bytes reached torch.jit.load")
    )
    kinds = {e.name: (e.kind, e.shape) for e in load_checkpoint(path).entries}
    assert kinds["stride"] == ("attribute", (2,))
    assert kinds["anchor_grid.0"] == ("attribute", (1, 3, 2, 2, 2))
    assert kinds["anchor_grid.1"] == ("attribute", (1, 3, 1, 1, 2))
    assert kinds["anchors"] == ("buffer", (2, 3)) and kinds["conv.weight"][0] == "parameter"
