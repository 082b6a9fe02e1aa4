"""Quantized models: weights kept in packed parameters are listed under their module, untrusted.

Before: a quantized state dict listed ``fc._packed_params._packed_params`` › ``0``/``1``, a pickled quantized
module listed only ``quant.scale``/``quant.zero_point`` (a dynamic one: 0 tensors), and so did a quantized
TorchScript file. Now each lists ``features.0.weight`` (qint8, per-channel) and ``fc.weight``/``fc.bias`` with
the scale and zero point torch has, and the statistics are those of torch's own ``.dequantize()``.
"""

import json

import numpy as np
import pytest
import quantized_factory as qf
import torch

from inspector.cli import main
from inspector.core.analysis.stats import tensor_stats
from inspector.core.checkpoint import packed_params
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.checkpoint.stubs import stub_class

pytestmark = pytest.mark.skipif(qf.engine() is None, reason="no quantized engine on this CPU")
FORMS = ("state_dict", "module", "torchscript")


@pytest.fixture(scope="module")
def static_model():
    return qf.static_conv_net()


@pytest.fixture(scope="module")
def dynamic_model():
    return qf.dynamic_linear_net()


@pytest.fixture(scope="module")
def static_files(static_model, tmp_path_factory):
    return qf.write_all(tmp_path_factory.mktemp("static"), static_model, "static")


@pytest.fixture(scope="module")
def dynamic_files(dynamic_model, tmp_path_factory):
    return qf.write_all(tmp_path_factory.mktemp("dynamic"), dynamic_model, "dynamic")


@pytest.fixture
def nothing_runs(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("untrusted bytes reached torch.load or torch.jit.load")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch.jit, "load", refuse)


def _expected_quantization(weight: torch.Tensor) -> dict:
    if weight.qscheme() == torch.per_tensor_affine:
        return {"scheme": "per_tensor_affine", "scale": weight.q_scale(), "zero_point": weight.q_zero_point()}
    scales = weight.q_per_channel_scales()
    return {
        "scheme": "per_channel_affine", "axis": weight.q_per_channel_axis(), "channels": scales.numel(),
        "scale_min": float(scales.min()), "scale_max": float(scales.max()), "scales": scales.tolist(),
        "zero_points": weight.q_per_channel_zero_points().tolist(),
    }  # fmt: skip


def _assert_layers_listed(ckpt, model):
    by_name = {e.canonical_name: e for e in ckpt.entries}
    for layer, (weight, bias) in qf.expected_weights(model).items():
        entry = by_name[f"{layer}.weight"]
        assert entry.dtype == "qint8" and entry.quantized and entry.shape == tuple(weight.shape)
        assert entry.module == layer and entry.attr == "weight" and entry.kind == "parameter"
        assert entry.quantization == _expected_quantization(weight)
        stored = ckpt.tensor(entry)
        assert torch.equal(stored.int_repr(), weight.int_repr())
        assert torch.equal(stored.dequantize(), weight.dequantize())
        assert torch.equal(ckpt.tensor(by_name[f"{layer}.bias"]).detach(), bias.detach())
        assert by_name[f"{layer}.bias"].dtype == "float32"
    return by_name


@pytest.mark.parametrize("form", FORMS)
def test_static_quantized_conv_and_linear_listed_under_their_modules(form, static_files, static_model,
                                                                     nothing_runs):  # fmt: skip
    ckpt = load_checkpoint(static_files[form])
    by_name = _assert_layers_listed(ckpt, static_model)
    assert {"features.0.weight", "features.0.bias", "fc.weight", "fc.bias"} <= set(by_name)
    assert not any("_packed_params" in e.name for e in ckpt.entries)  # no raw `0`/`1` rows any more
    assert by_name["features.0.weight"].quantization["scheme"] == "per_channel_affine"
    assert by_name["fc.weight"].packed_in.endswith("fc._packed_params" if form != "state_dict"
                                                   else "fc._packed_params._packed_params")  # fmt: skip
    assert by_name["quant.scale"].kind == "buffer" and by_name["quant.zero_point"].kind == "buffer"


@pytest.mark.parametrize("form", FORMS)
def test_dynamic_quantized_linears_listed(form, dynamic_files, dynamic_model, nothing_runs):
    ckpt = load_checkpoint(dynamic_files[form])
    by_name = _assert_layers_listed(ckpt, dynamic_model)
    assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= set(by_name)
    assert by_name["0.weight"].quantization["scheme"] == "per_tensor_affine"
    assert ckpt.totals.parameters == 8 * 4 + 4 + 4 * 2 + 2


def test_stats_of_a_packed_weight_are_those_of_torchs_dequantize(static_files, static_model):
    ckpt = load_checkpoint(static_files["module"])
    for layer, (weight, _) in qf.expected_weights(static_model).items():
        stats = tensor_stats(ckpt.tensor(f"{layer}.weight"))
        values = weight.dequantize().double()
        assert stats.numel == weight.numel()
        assert stats.min == float(values.min()) and stats.max == float(values.max())
        assert stats.mean == pytest.approx(float(values.mean()), rel=1e-12, abs=1e-15)
        assert stats.std == pytest.approx(float(values.std()), rel=1e-12)
        assert stats.zeros == int((values == 0).sum())


def test_state_dict_kinds_estimated_for_quantized_rows(static_files):
    kinds = {e.name: (e.kind, e.requires_grad) for e in load_checkpoint(static_files["state_dict"]).entries}
    assert kinds["features.0.weight"] == ("parameter", False)  # qint8 cannot train
    assert kinds["features.0.scale"][0] == "buffer" and kinds["features.0.zero_point"][0] == "buffer"
    assert kinds["fc.scale"][0] == "buffer"


def test_trusted_files_list_the_same_weights(dynamic_files, dynamic_model):
    for form in ("module", "torchscript"):
        ckpt = load_checkpoint(dynamic_files[form], trust=True)
        assert isinstance(ckpt.raw, torch.nn.Module)  # the real module, to run
        _assert_layers_listed(ckpt, dynamic_model)


def test_cli_list_json_shows_packed_weights(static_files, static_model, capsys):
    assert main(["list", str(static_files["torchscript"]), "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["entries"]}
    weight = static_model.fc.weight()
    assert rows["fc.weight"]["dtype"] == "qint8" and rows["fc.weight"]["shape"] == [3, 16]
    assert rows["fc.weight"]["quantization"] == _expected_quantization(weight)
    assert rows["fc.weight"]["packed_in"] == "fc._packed_params"
    assert rows["features.0.weight"]["quantization"]["channels"] == 4


def test_unpack_reads_only_what_looks_like_packed_params():
    q = torch.quantize_per_tensor(torch.linspace(-1, 1, 6).reshape(2, 3), 0.01, 3, torch.qint8)
    bias = torch.ones(2)
    script_object = stub_class("torch.ScriptObject")()
    script_object.__setstate__(((q, bias), "__torch__.torch.classes.quantized.LinearPackedParamsBase"))
    assert packed_params.unpack(script_object) == (q, bias)
    config = torch.zeros(11, dtype=torch.int16)
    assert packed_params.unpack(("2", [config, q], [bias])) == (q, bias)  # conv packed params, format 2
    assert packed_params.unpack((3, [1, 2, 3], [q, None])) == (q, None)  # format 3, no bias
    for junk in ((torch.ones(2), bias), ("2", [config], [bias]), ("x", 1), (q, "bias"), [[q, q], [], []]):
        assert packed_params.unpack(junk) is None, junk
    odd = stub_class("torch.ScriptObject")()
    odd.__setstate__((("not", "tensors"), "__torch__.Evil"))
    assert packed_params.unpack(odd) is None
    loop = stub_class("torch.ScriptObject")()
    loop.__setstate__(((loop, loop), "__torch__.Loop"))  # a state that contains itself: depth-bounded
    assert packed_params.unpack(loop) is None and packed_params.unpack_named(loop) is None
    assert (
        packed_params.conv_module_state((1, 4, 3, 3, 1, 1, False, 0, 1, "zeros", "w", None, 1.0, 0)) is None
    )


def test_describe_quantization():
    q = torch.quantize_per_tensor(torch.zeros(3), 0.5, 2, torch.qint8)
    text = packed_params.describe_quantization(packed_params.quantization_of(q))
    assert text == "per-tensor affine: scale 0.5, zero point 2"
    qc = torch.quantize_per_channel(torch.zeros(2, 3), torch.tensor([0.1, 0.2]), torch.tensor([0, 0]), 0,
                                    torch.qint8)  # fmt: skip
    text = packed_params.describe_quantization(packed_params.quantization_of(qc))
    assert text == "per-channel affine (axis 0): 2 channels, scales 0.1 to 0.2, zero point 0"


@pytest.fixture(scope="module")
def fx_model():
    return qf.fx_quantized_net()


@pytest.mark.parametrize("form", FORMS)
def test_fx_quantized_graph_lists_modules_and_its_packed_attribute(form, fx_model, tmp_path, nothing_runs):
    path = qf.write_all(tmp_path, fx_model, "fx")[form]
    ckpt = load_checkpoint(path)
    by_name = _assert_layers_listed(ckpt, fx_model)
    assert {"conv.weight", "fc.weight", "fc.bias"} <= set(by_name)
    packed, _ = packed_params.unpack(fx_model._packed_weight_0.__getstate__())
    entry = by_name["_packed_weight_0.weight"]
    assert entry.packed_in == "_packed_weight_0" and entry.shape == (5, 16)
    assert torch.equal(ckpt.tensor(entry).dequantize(), packed.dequantize())
    assert ckpt.format == ("state_dict" if form == "state_dict" else "pickled_module" if form == "module"
                           else "torchscript")  # fmt: skip


@pytest.mark.parametrize("form", ("state_dict", "module", "trusted module"))
def test_quantized_embedding_and_dynamic_lstm_cells(form, tmp_path):
    model = qf.embedding_lstm_net()
    path = qf.write_all(tmp_path, model, "emb")["state_dict" if form == "state_dict" else "module"]
    if form == "trusted module":
        with qf.quantized_engine():
            ckpt = load_checkpoint(path, trust=True)
        assert isinstance(ckpt.raw, qf.EmbeddingLSTM)
    else:
        ckpt = load_checkpoint(path)
    by_name = {e.name: e for e in ckpt.entries}
    emb = by_name["emb.weight"]
    assert emb.dtype == "quint8" and emb.quantization["scheme"] == "per_channel_affine_float_qparams"
    assert emb.packed_in.startswith("emb._packed_params")
    assert torch.equal(ckpt.tensor(emb).dequantize(), model.emb.weight().dequantize())
    weights, biases = model.lstm._weight_bias()["weight"], model.lstm._weight_bias()["bias"]
    cell = "lstm._all_weight_values.0"
    for name, expected in (("weight_ih", weights["weight_ih_l0"]), ("weight_hh", weights["weight_hh_l0"]),
                           ("bias_ih", biases["bias_ih_l0"]), ("bias_hh", biases["bias_hh_l0"])):  # fmt: skip
        entry = by_name[f"{cell}.{name}"]
        assert entry.kind == "parameter" and entry.packed_in == f"{cell}.param", name
        stored = ckpt.tensor(entry)
        got = stored.dequantize() if stored.is_quantized else stored.detach()
        assert torch.equal(got, expected.dequantize() if expected.is_quantized else expected.detach()), name
    assert len(ckpt.entries) == 5


@pytest.mark.parametrize("form", FORMS)
def test_fp16_dynamic_linear_lists_its_float_weight(form, tmp_path, nothing_runs):
    model = qf.fp16_linear_net()
    ckpt = load_checkpoint(qf.write_all(tmp_path, model, "fp16")[form])
    by_name = {e.name: e for e in ckpt.entries}
    weight, bias = model[0].weight(), model[0].bias()
    assert by_name["0.weight"].packed_in.startswith("0._packed_params") and not by_name["0.weight"].quantized
    assert torch.equal(ckpt.tensor(by_name["0.weight"]), weight)
    assert torch.equal(ckpt.tensor(by_name["0.bias"]).detach(), bias.detach())


def test_weights_view_draws_the_packed_conv_weight_dequantized(static_files, static_model):
    from inspector.core.render.filter_grids import filter_grid

    ckpt = load_checkpoint(static_files["torchscript"])
    grid = filter_grid(ckpt.tensor("features.0.weight"))
    real = static_model.features[0].weight().dequantize().numpy()
    assert grid.filters_shown == 4 and grid.weight_shape == (4, 1, 3, 3)
    assert np.allclose(grid.scales, np.abs(real).max(axis=(1, 2, 3)), rtol=0, atol=1e-7)
    tile = grid.image[grid.padding : grid.padding + 3, grid.padding : grid.padding + 3]
    assert np.allclose(tile, real[0, 0] / np.abs(real[0]).max(), atol=1e-6)


@pytest.mark.parametrize("form", FORMS)
def test_nothing_in_a_quantized_layer_is_trainable_not_even_its_float_bias(form, static_files, capsys):
    ckpt = load_checkpoint(static_files[form])
    by_name = {e.canonical_name: e for e in ckpt.entries}
    for name in ("features.0.weight", "features.0.bias", "fc.weight", "fc.bias"):
        assert not by_name[name].requires_grad and by_name[name].trainable_source == "quantized", name
    assert by_name["features.0.bias"].dtype == "float32"
    assert ckpt.totals.trainable == 0
    assert main(["list", str(static_files[form]), "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)["entries"]}
    bias = next(r for r in rows.values() if r["name"].endswith("0.bias") or r["name"] == "features.0.bias")
    assert bias["requires_grad"] is False and bias["trainable_source"] == "quantized"


def test_the_tree_tooltip_says_why_a_quantized_bias_is_not_trainable(static_files):
    pytest.importorskip("PySide6")
    from inspector.core.checkpoint.entry_tree import build_entry_tree, iter_nodes
    from inspector.ui.entry_tree_model import tooltip_text

    ckpt = load_checkpoint(static_files["state_dict"])
    node = next(
        n for n in iter_nodes(build_entry_tree(ckpt)) if n.entry and n.entry.name == "features.0.bias"
    )
    assert "not trainable: part of a quantized layer" in tooltip_text(node)
