"""Every row of a training checkpoint's model group is a parameter or a buffer; totals are the rows' sums."""

import json

import checkpoint_factory as factory

from inspector.cli import main
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.checkpoint.model import totals_line

BUFFERS = {"bn.running_mean", "bn.running_var", "bn.num_batches_tracked"}


def test_training_checkpoint_rows_get_estimated_kinds(tmp_path):
    ckpt = load_checkpoint(factory.write_training_checkpoint(tmp_path))
    model_rows = ckpt.model_entries()
    assert {e.name: e.kind for e in model_rows} == {
        name: "buffer" if name in BUFFERS else "parameter" for name in factory.STATE_KEYS
    }
    assert all(e.kind_estimated for e in model_rows)
    assert [e.requires_grad for e in model_rows if e.kind == "parameter"] == [True] * 6
    assert all(
        e.kind == "tensor" and not e.kind_estimated for e in ckpt.entries if e.group != ckpt.model_group
    )


def test_totals_are_the_sums_of_the_rows(tmp_path):
    ckpt = load_checkpoint(factory.write_training_checkpoint(tmp_path))
    t = ckpt.totals
    rows = ckpt.entries
    n_params = sum(p.numel() for p in factory.tiny_net().parameters())  # 51
    assert t.parameters == sum(e.numel for e in rows if e.kind == "parameter") == n_params
    assert t.trainable == sum(e.numel for e in rows if e.kind == "parameter" and e.requires_grad) == n_params
    assert t.buffers == sum(1 for e in rows if e.kind == "buffer") == 3
    assert t.tensors == sum(1 for e in rows if e.kind not in ("parameter", "buffer")) == 18  # Adam state only
    assert t.buffers + t.tensors + sum(1 for e in rows if e.kind == "parameter") == t.entries
    assert t.parameters_estimated
    assert totals_line(t).startswith("27 tensors, 51 parameters* (51 trainable), 3 buffers*, ")
    assert "estimated" in totals_line(t)


def test_module_kinds_are_not_estimated(tmp_path):
    ckpt = load_checkpoint(factory.write_pickled_module_unimportable(tmp_path))
    assert not any(e.kind_estimated for e in ckpt.entries) and not ckpt.totals.parameters_estimated
    assert ckpt.totals.parameters == 51


def test_cli_table_json_and_total_line_mark_estimates(tmp_path, capsys):
    path = factory.write_training_checkpoint(tmp_path)
    assert main(["list", str(path)]) == 0
    out = capsys.readouterr().out
    assert "bn.running_var" in out and "buffer*" in out and "parameter*" in out
    assert "51 parameters* (51 trainable), 3 buffers*" in out and "estimated from the name" in out
    assert main(["list", "--json", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    rows = [e for e in doc["entries"] if e["group"] == "model_state_dict"]
    assert all(e["kind_estimated"] and e["kind"] in ("parameter", "buffer") for e in rows)
    assert doc["totals"]["parameters"] == sum(e["numel"] for e in doc["entries"] if e["kind"] == "parameter")
    assert doc["totals"]["parameters_estimated"] is True
