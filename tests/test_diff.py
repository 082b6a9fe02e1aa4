"""Diff of two checkpoints the tests write: exact changed/unchanged, numbers, pairing, chunking, JSON."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from inspector.core.analysis import diff as diff_module
from inspector.core.analysis.diff import diff_checkpoints, difference_tensor, iter_diff
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.errors import InspectorError
from inspector.core.jobs import run_job


def pair_of_state_dicts():
    g = torch.Generator().manual_seed(0)
    a = {
        "same": torch.randn(4, 5, generator=g),
        "one_element": torch.randn(10, generator=g),
        "scaled": torch.randn(3, 3, generator=g),
        "reshaped": torch.randn(6, generator=g),
        "counter": torch.tensor(7),
        "mask": torch.tensor([True, False, True]),
        "nan_same": torch.tensor([1.0, math.nan, 3.0]),
        "from_zero": torch.zeros(4),
        "only_a": torch.ones(2),
    }
    b = {k: v.clone() for k, v in a.items() if k != "only_a"}
    b["one_element"][3] += 0.5
    b["scaled"] = a["scaled"] * 1.1
    b["reshaped"] = a["reshaped"].reshape(2, 3)
    b["counter"] = torch.tensor(8)
    b["mask"] = torch.tensor([True, True, True])
    b["from_zero"] = torch.tensor([0.0, 2.0, 0.0, 0.0])
    b["only_b"] = torch.zeros(1)
    return a, b


@pytest.fixture
def two_files(tmp_path):
    a, b = pair_of_state_dicts()
    torch.save(a, tmp_path / "a.pth")
    torch.save(b, tmp_path / "b.pth")
    return tmp_path / "a.pth", tmp_path / "b.pth", a, b


def rows_by_name(result):
    return {t.name: t for t in result.tensors}


def test_changed_and_unchanged_are_exact(two_files):
    path_a, path_b, a, b = two_files
    result = diff_checkpoints(path_a, path_b)
    rows = rows_by_name(result)
    assert {n for n, r in rows.items() if r.changed} == {
        "one_element",
        "scaled",
        "reshaped",
        "counter",
        "mask",
        "from_zero",
    }
    for name in ("same", "nan_same"):
        r = rows[name]
        assert (r.changed, r.max_abs, r.rel_l2, r.changed_elements) == (False, 0.0, 0.0, 0)
    assert result.only_in_a == ["only_a"] and result.only_in_b == ["only_b"]


def test_numbers_match_float64_numpy(two_files):
    path_a, path_b, a, b = two_files
    rows = rows_by_name(diff_checkpoints(path_a, path_b))
    for name in ("one_element", "scaled"):
        da, db = a[name].double().numpy(), b[name].double().numpy()
        r = rows[name]
        assert r.max_abs == pytest.approx(np.abs(da - db).max(), rel=1e-12)
        assert r.rel_l2 == pytest.approx(np.linalg.norm(da - db) / np.linalg.norm(da), rel=1e-12)
    assert rows["one_element"].changed_elements == 1 and rows["one_element"].changed_pct == pytest.approx(
        10.0
    )
    assert (rows["counter"].max_abs, rows["counter"].rel_l2) == (1.0, pytest.approx(1 / 7))
    assert (rows["mask"].changed_elements, rows["mask"].max_abs) == (1, 1.0)


def test_shape_mismatch_and_change_from_zero_have_null_numbers_in_valid_json(two_files):
    path_a, path_b, _, _ = two_files
    result = diff_checkpoints(path_a, path_b)
    doc = json.loads(json.dumps(result.to_json(), allow_nan=False))
    rows = {t["name"]: t for t in doc["tensors"]}
    assert rows["reshaped"] == {**rows["reshaped"], "changed": True, "shape_mismatch": True, "max_abs": None,
                                "rel_l2": None, "shape_a": [6], "shape_b": [2, 3]}  # fmt: skip
    assert doc["shape_mismatch"] == [{"name": "reshaped", "shape_a": [6], "shape_b": [2, 3]}]
    assert rows["from_zero"]["rel_l2"] is None and rows["from_zero"]["max_abs"] == 2.0
    assert {"tensors", "only_in_a", "only_in_b"} <= set(doc)
    assert doc["summary"] == {
        **doc["summary"],
        "compared": 8,
        "changed": 6,
        "unchanged": 2,
        "shape_mismatch": 1,
    }


def test_prefixes_and_groups_are_matched_like_the_loader(tmp_path):
    a, _ = pair_of_state_dicts()
    torch.save({"model_state_dict": a, "epoch": 3}, tmp_path / "train.pth")
    torch.save({f"module.{k}": v for k, v in a.items()}, tmp_path / "dp.pth")
    result = diff_checkpoints(tmp_path / "train.pth", tmp_path / "dp.pth")
    model_rows = [t for t in result.tensors if t.name in a]
    assert len(model_rows) == len(a) and not any(t.changed for t in model_rows)
    assert model_rows[0].key_a == "model_state_dict/same" and model_rows[0].key_b == "module.same"
    assert result.only_in_b == []


def test_big_tensors_are_read_in_chunks_with_progress(two_files, monkeypatch):
    path_a, path_b, _, _ = two_files
    ckpt_a, ckpt_b = load_checkpoint(path_a), load_checkpoint(path_b)
    whole = rows_by_name(run_job(iter_diff(ckpt_a, ckpt_b)))
    monkeypatch.setattr(diff_module, "CHUNK_ELEMENTS", 3)
    records = []
    chunked = rows_by_name(run_job(iter_diff(ckpt_a, ckpt_b), records.append))
    for name, row in whole.items():
        assert chunked[name].to_json() == row.to_json()
    assert any("%" in r.message for r in records)  # per-chunk records for tensors over 3 elements
    assert records[-1].done == records[-1].total == 8


def test_job_stops_between_tensors(two_files):
    path_a, path_b, _, _ = two_files
    job = iter_diff(load_checkpoint(path_a), load_checkpoint(path_b))
    first = next(job)
    assert first.done == 0 and first.total == 8
    job.close()  # what a worker does on cancel: no error, nothing left running


def test_difference_tensor(two_files):
    path_a, path_b, a, b = two_files
    ckpt_a, ckpt_b = load_checkpoint(path_a), load_checkpoint(path_b)
    d = difference_tensor(ckpt_a, ckpt_b, "scaled")
    assert d.dtype == torch.float32 and d.shape == (3, 3)
    torch.testing.assert_close(d, a["scaled"] - b["scaled"])
    assert difference_tensor(ckpt_a, ckpt_b, "counter").item() == -1.0
    with pytest.raises(InspectorError, match="shape"):
        difference_tensor(ckpt_a, ckpt_b, "reshaped")
    with pytest.raises(InspectorError, match="no tensor matches 'only_a'"):
        difference_tensor(ckpt_a, ckpt_b, "only_a")


def test_nan_inf_mismatches_count_as_changes_without_breaking_numbers(tmp_path):
    torch.save({"t": torch.tensor([1.0, math.nan, math.inf, 4.0])}, tmp_path / "a.pth")
    torch.save({"t": torch.tensor([1.0, 2.0, math.inf, 5.0])}, tmp_path / "b.pth")
    row = diff_checkpoints(tmp_path / "a.pth", tmp_path / "b.pth").tensors[0]
    assert row.changed and row.changed_elements == 2 and row.nonfinite_mismatch == 1
    assert row.max_abs == 1.0 and math.isfinite(row.rel_l2)


class FrozenNet(nn.Module):
    """conv1 and bn frozen (bn in eval mode, as when fine-tuning), conv2 and fc trainable, fc.bias frozen."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        return self.fc(self.conv2(torch.relu(self.bn(self.conv1(x)))).flatten(1))


def test_one_optimizer_step_changes_exactly_the_trainable_tensors(tmp_path):
    torch.manual_seed(0)
    model = FrozenNet()
    for p in [*model.conv1.parameters(), *model.bn.parameters(), model.fc.bias]:
        p.requires_grad_(False)
    model.train()
    model.bn.eval()
    torch.save({"model_state_dict": model.state_dict(), "epoch": 0}, tmp_path / "before.pth")
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(8, 1, 6, 6)).pow(2).mean().backward()
    opt.step()
    torch.save(model.state_dict(), tmp_path / "after.pth")
    result = diff_checkpoints(tmp_path / "before.pth", tmp_path / "after.pth")
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"conv2.weight", "conv2.bias", "fc.weight"}
    assert {t.name for t in result.changed} == trainable
    assert len(result.tensors) == len(model.state_dict()) and not result.only_in_a and not result.only_in_b


def write_base_and_renumbered_finetune(folder, base_sha256=""):
    """A: Adam over every parameter of TinyNet, 3 steps; B: a new Adam over fc only (given named parameters,
    so ``param_names`` say whose ``state.0`` is whose), 1 step: B's state.0 is A's state.4 (fc.weight)."""
    from tests.checkpoint_factory import tiny_net

    model = tiny_net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(2, 1, 4, 4)).sum().backward()
        opt.step()
    a = {"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()}
    torch.save(a, folder / "base.pth")
    fc_params = [model.fc.weight, model.fc.bias]
    opt_b = torch.optim.Adam(fc_params, lr=1e-3)
    model(torch.randn(2, 1, 4, 4)).sum().backward()
    opt_b.step()
    state_b = opt_b.state_dict()
    state_b["param_groups"][0]["param_names"] = ["fc.weight", "fc.bias"]
    b = {"model_state_dict": model.state_dict(), "optimizer_state_dict": state_b}
    if base_sha256:
        b["base_sha256"] = base_sha256
    torch.save(b, folder / "ft.pth")
    return folder / "base.pth", folder / "ft.pth"


def test_renumbered_optimizer_state_shows_both_keys_labels_and_a_fresh_optimizer_note(tmp_path, capsys):
    from inspector.cli import main

    path_a, path_b = write_base_and_renumbered_finetune(tmp_path)
    result = diff_checkpoints(str(path_a), str(path_b))
    step = result.row("optimizer_state_dict/state.4.step")
    assert step.name_b == "optimizer_state_dict/state.0.step" and step.key_b.endswith("state.0.step")
    assert step.display_name == "optimizer_state_dict/state.4.step ↔ state.0.step (step of fc.weight)"
    assert result.notes == [diff_module.FRESH_OPTIMIZER_NOTE]  # B steps 1 < A steps 3
    assert result.only_display("optimizer_state_dict/state.0.step") == (
        "optimizer_state_dict/state.0.step (step of conv.weight)"
    )
    ckpt_a, ckpt_b = load_checkpoint(str(path_a)), load_checkpoint(str(path_b))
    delta = difference_tensor(ckpt_a, ckpt_b, step.name, step.name_b)
    assert float(delta) == 2.0  # 3 steps in A, 1 in B: B's own state.0, not a missing state.4
    assert main(["diff", str(path_a), str(path_b)]) == 1
    out = capsys.readouterr().out
    assert "optimizer_state_dict/state.4.exp_avg ↔ state.0.exp_avg (exp_avg of fc.weight)" in out
    assert "optimizer_state_dict/state.0.step (step of conv.weight)" in out
    assert f"note: {diff_module.FRESH_OPTIMIZER_NOTE}" in out
    assert main(["diff", str(path_a), str(path_b), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    row = next(t for t in data["tensors"] if t["name"] == "optimizer_state_dict/state.4.step")
    assert row["name_b"] == "optimizer_state_dict/state.0.step"
    assert data["notes"] == [diff_module.FRESH_OPTIMIZER_NOTE]
    assert data["only_in_labels"]["optimizer_state_dict/state.0.step"] == "step of conv.weight"


def test_same_optimizer_two_epochs_has_no_fresh_optimizer_note_and_one_name(tmp_path):
    from tests.checkpoint_factory import tiny_net

    model = tiny_net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for name in ("e1.pth", "e2.pth"):
        model(torch.randn(2, 1, 4, 4)).sum().backward()
        opt.step()
        torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()},
                   tmp_path / name)  # fmt: skip
    result = diff_checkpoints(str(tmp_path / "e1.pth"), str(tmp_path / "e2.pth"))
    step = result.row("optimizer_state_dict/state.0.step")
    assert step.display_name == "optimizer_state_dict/state.0.step (step of conv.weight)"
    assert result.notes == []


def test_a_finetune_saved_file_gets_the_note_whatever_its_steps(tmp_path):
    path_a, path_b = write_base_and_renumbered_finetune(tmp_path, base_sha256="0" * 64)
    assert diff_checkpoints(str(path_a), str(path_b)).notes == [diff_module.FRESH_OPTIMIZER_NOTE]
