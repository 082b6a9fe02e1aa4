"""Optimizer state named after its parameters ("exp_avg of conv.weight"), the raw index kept (no Qt)."""

import json

import checkpoint_factory as factory
import torch

from inspector.cli import main
from inspector.core.analysis.diff import diff_checkpoints
from inspector.core.checkpoint.loader import load_checkpoint


def test_adam_state_maps_to_the_model_parameters_in_order(tmp_path):
    ckpt = load_checkpoint(factory.write_training_checkpoint(tmp_path))
    state = {e.name: e for e in ckpt.entries if e.group == "optimizer_state_dict"}
    for index, param in enumerate(factory.PARAM_KEYS):  # conv.weight, conv.bias, bn.weight, ...
        assert state[f"state.{index}.exp_avg"].state_of == param
        assert state[f"state.{index}.exp_avg"].state_label == f"exp_avg of {param}"
        assert state[f"state.{index}.step"].state_label == f"step of {param}"
    assert state["state.4.exp_avg_sq"].state_label == "exp_avg_sq of fc.weight"
    assert state["state.4.exp_avg_sq"].key == "optimizer_state_dict/state.4.exp_avg_sq"  # raw index kept


def test_lightning_optimizer_states_map_too(tmp_path):
    ckpt = load_checkpoint(factory.write_lightning(tmp_path))
    entry = ckpt.entry("optimizer_states/0.state.1.exp_avg")
    assert entry.state_label == "exp_avg of conv.bias"


def test_no_mapping_when_counts_disagree(tmp_path):
    model = factory.tiny_net()
    opt = torch.optim.Adam(model.fc.parameters(), lr=1e-3)  # 2 of the model's 6 parameters
    model(torch.randn(2, 1, 4, 4)).sum().backward()
    opt.step()
    path = factory.write(tmp_path, "partial.pt", {"model_state_dict": model.state_dict(),
                                                  "optimizer_state_dict": opt.state_dict()})  # fmt: skip
    ckpt = load_checkpoint(path)
    assert not any(e.state_of for e in ckpt.entries)


def test_no_mapping_when_shapes_disagree(tmp_path):
    model = factory.tiny_net()
    opt = factory.one_adam_step(model)
    state = opt.state_dict()
    state["param_groups"][0]["params"] = list(reversed(state["param_groups"][0]["params"]))
    path = factory.write(tmp_path, "shuffled.pt", {"model_state_dict": model.state_dict(),
                                                   "optimizer_state_dict": state})  # fmt: skip
    assert not any(e.state_of for e in load_checkpoint(path).entries)


def test_list_json_and_table_show_the_parameter(tmp_path, capsys):
    path = factory.write_training_checkpoint(tmp_path)
    assert main(["list", "--json", str(path)]) == 0
    rows = {e["name"]: e for e in json.loads(capsys.readouterr().out)["entries"]}
    assert rows["state.0.exp_avg"]["state_of"] == "conv.weight"
    assert rows["state.0.exp_avg"]["label"] == "exp_avg of conv.weight"
    assert rows["conv.weight"]["state_of"] is None
    assert main(["list", str(path)]) == 0
    assert "state.0.exp_avg (exp_avg of conv.weight)" in capsys.readouterr().out


def test_diff_names_the_parameter_of_optimizer_state(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    a = factory.write_training_checkpoint(tmp_path / "a")
    b_dir = tmp_path / "b"
    b_dir.mkdir()
    model = factory.tiny_net(seed=1)
    opt = factory.one_adam_step(model)
    b = factory.write(b_dir, "train.pt", {"model_state_dict": model.state_dict(),
                                          "optimizer_state_dict": opt.state_dict()})  # fmt: skip
    result = diff_checkpoints(str(a), str(b))
    row = result.row("optimizer_state_dict/state.4.exp_avg")
    assert row.label == "exp_avg of fc.weight" and row.to_json()["label"] == "exp_avg of fc.weight"
    main(["diff", str(a), str(b)])
    assert "optimizer_state_dict/state.4.exp_avg (exp_avg of fc.weight)" in capsys.readouterr().out
