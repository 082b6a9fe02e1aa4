"""The diff's reading order (core, no Qt): changed parameters by relative change, ∞ (a = 0) rows after them."""

import math

import torch

from inspector.core.analysis.diff import DiffResult, TensorDiff, diff_checkpoints, iter_diff_files
from inspector.core.analysis.diff_order import entry_kinds, relative_change, review_key, review_order
from inspector.core.jobs import run_job


def pair(name, rel, changed=True, shape_b=(4,)):
    return TensorDiff(name, name, name, (4,), shape_b, "float32", "float32", changed=changed, rel_l2=rel)


def test_parameters_before_buffers_and_finite_before_infinite():
    rows = [
        pair("bn.running_mean", None),  # a = 0: rel L2 is ∞
        pair("bn.bias", None),
        pair("bn.num_batches_tracked", None),
        pair("fc.bias", 0.0, changed=False),
        pair("conv.weight", 0.02),
        pair("bn.running_var", 0.3),
        pair("fc.weight", 0.5),
        pair("head.weight", None, shape_b=(5,)),
        pair("state.0.exp_avg", 0.9),
    ]
    result = DiffResult("a.pth", "b.pth", rows, only_in_a=["old"], only_in_b=["new"])
    kinds = {"bn.running_mean": "buffer", "bn.num_batches_tracked": "buffer", "bn.running_var": "buffer",
             "state.0.exp_avg": "tensor"} | {n: "parameter" for n in ("bn.bias", "fc.bias", "conv.weight",
                                                                      "fc.weight", "head.weight")}  # fmt: skip
    order = [row.name for row in review_order(result, kinds)]
    assert order == [
        "fc.weight", "conv.weight", "bn.bias",  # changed parameters: finite by rel L2, then ∞
        "bn.running_var", "bn.running_mean", "bn.num_batches_tracked",  # changed buffers, ∞ in file order
        "state.0.exp_avg",  # other tensors (optimizer state)
        "head.weight", "old", "new", "fc.bias",  # shape mismatch, one file only, unchanged
    ]  # fmt: skip
    by_rel = sorted(rows, key=lambda t: -(relative_change(t) or -1.0))  # the old order: ∞ rows on top
    assert by_rel[0].name == "bn.running_mean"


def test_review_key_puts_missing_numbers_last_within_a_kind():
    changed_inf = review_key(review_order(DiffResult("a", "b", [pair("x", None)], [], []))[0])
    changed_finite = review_key(review_order(DiffResult("a", "b", [pair("x", 1e9)], [], []))[0])
    assert changed_finite < changed_inf
    assert (
        relative_change(pair("x", None)) == math.inf and relative_change(pair("x", 0.0, changed=False)) == 0
    )


def test_kinds_come_from_the_files(tmp_path):
    """A training checkpoint against a plain state dict: kinds by module/name, matched across prefixes."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    a = {k: v.clone() for k, v in net.state_dict().items()}
    b = {k: v.clone() + 1 for k, v in a.items()}  # every tensor changes; bn bias/mean/count start at 0
    torch.save({"model_state_dict": a, "epoch": 0}, tmp_path / "a.pth")
    torch.save(b, tmp_path / "b.pth")
    result, ckpt_a, ckpt_b = run_job(iter_diff_files(str(tmp_path / "a.pth"), str(tmp_path / "b.pth")))
    kinds = entry_kinds(result, ckpt_a, ckpt_b)
    assert kinds["1.running_mean"] == "buffer" and kinds["0.weight"] == "parameter"
    order = [row.name for row in review_order(result, kinds)]
    assert order[:4] == sorted(["0.weight", "0.bias", "1.weight"], key=lambda n: -result.row(n).rel_l2) + [
        "1.bias"
    ]
    assert order[4:] == ["1.running_var", "1.running_mean", "1.num_batches_tracked"]
    assert diff_checkpoints(str(tmp_path / "a.pth"), str(tmp_path / "b.pth")).row("1.bias").rel_l2 is None
