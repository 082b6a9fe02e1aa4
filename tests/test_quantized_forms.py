"""A quantized model saved three ways lists, and diffs, alike; the trial's quantized findings.

Before: a pickled quantized module and its TorchScript archive left out each quantized layer's output
``scale``/``zero_point`` (Python numbers there, 0-dim tensors in the state dict), so ``inspector diff`` of the
state dict against either said "4 only in A" and exited 1.
"""

import json

import pytest
import quantized_factory as qf
import torch

from inspector.cli import main
from inspector.core.checkpoint.loader import load_checkpoint

pytestmark = pytest.mark.skipif(qf.engine() is None, reason="no quantized engine on this CPU")
MODELS = {"static": qf.static_conv_net, "dynamic": qf.dynamic_linear_net, "fx": qf.fx_quantized_net}


@pytest.fixture(scope="module", params=sorted(MODELS))
def saved(request, tmp_path_factory):
    model = MODELS[request.param]()
    return model, qf.write_all(tmp_path_factory.mktemp(request.param), model, request.param)


def _output_qparams(model) -> dict[str, float | int]:
    """``{"fc.scale": 0.0067, "fc.zero_point": 63, ...}`` from torch's own state dict."""
    return {
        k: v.item()
        for k, v in model.state_dict().items()
        if k.endswith((".scale", ".zero_point")) and isinstance(v, torch.Tensor) and v.dim() == 0
    }


@pytest.mark.parametrize("form", ["module", "torchscript"])
def test_whole_forms_list_output_scale_and_zero_point(saved, form):
    model, paths = saved
    expected = _output_qparams(model)
    assert expected  # every one of these models has quantized layers with an output scale
    ckpt = load_checkpoint(paths[form])
    by_name = {e.name: e for e in ckpt.entries}
    for name, value in expected.items():
        entry = by_name[name]
        assert entry.shape == () and entry.kind == "buffer" and entry.module == name.rpartition(".")[0]
        assert entry.dtype == ("float32" if name.endswith("scale") else "int64")
        assert ckpt.tensor(entry).item() == value


@pytest.mark.parametrize("form", ["module", "torchscript"])
def test_state_dict_and_whole_forms_diff_identical(saved, form, capsys):
    _, paths = saved
    a = {e.name for e in load_checkpoint(paths["state_dict"]).entries}
    b = {e.name for e in load_checkpoint(paths[form]).entries}
    assert a == b
    code = main(["diff", str(paths["state_dict"]), str(paths[form])])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("identical:"), out


def test_estimated_mark_is_per_file_packed_weights_too(saved, capsys):
    """Before: in a quantized state dict the plain conv weight read ``parameter*`` and the Linear's packed
    weight beside it ``parameter``; now every row of a state dict is estimated, no row of a whole module is."""
    _, paths = saved
    rows = load_checkpoint(paths["state_dict"]).entries
    assert any(e.packed_in for e in rows)  # weights read out of packed parameters are among them
    assert all(e.kind_estimated and e.kind in ("parameter", "buffer") for e in rows), [
        (e.name, e.kind, e.kind_estimated) for e in rows
    ]
    assert all(e.kind == "parameter" for e in rows if e.attr in ("weight", "bias"))
    for form in ("module", "torchscript"):
        assert not any(e.kind_estimated for e in load_checkpoint(paths[form]).entries)
    assert main(["list", str(paths["state_dict"])]) == 0
    out = capsys.readouterr().out
    table = [line.split() for line in out.splitlines()[2:] if line.split()[:1] and "." in line.split()[0]]
    assert table and all(cols[-2].endswith("*") for cols in table)  # kind, then grad
    assert "packed quantized weights too" in out


@pytest.mark.parametrize("form", ["state_dict", "module", "torchscript"])
def test_torch_internal_warnings_stay_out_of_the_file_warnings(saved, form, capsys, torch_warns_again):
    """Before: ``list --json`` of a quantized file said "TypedStorage is deprecated..." and "torch.quantize_per_tensor,
    ... are deprecated" (with trust on TorchScript also "`torch.jit.load` is deprecated") in ``warnings``."""
    _, paths = saved
    assert load_checkpoint(paths[form]).warnings == []
    # with trust too (torch.load / torch.jit.load run); the pickled module's class is a test module's
    argv = ["list", "--json", str(paths[form])] + (["--trust"] if form != "module" else [])
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []


def test_only_inspector_warnings_are_kept():
    import warnings

    from inspector.core.checkpoint.loader import own_warnings
    from inspector.core.errors import InspectorWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("TypedStorage is deprecated", UserWarning, stacklevel=1)
        warnings.warn("`torch.jit.load` is deprecated", DeprecationWarning, stacklevel=1)
        warnings.warn("the file says two things\nsecond line", InspectorWarning, stacklevel=1)
        warnings.warn("the file says two things", InspectorWarning, stacklevel=1)
    assert own_warnings(caught) == ["the file says two things"]


# -- "dequantized" wherever quantized values are shown -------------------------------------------------------
def test_dequantized_note_names_scale_and_zero_point():
    from inspector.core.checkpoint.packed_params import dequantized_note

    assert dequantized_note(
        "qint8", {"scheme": "per_tensor_affine", "scale": 0.0066998, "zero_point": 63}
    ) == ("dequantized from qint8 with scale 0.0067, zero point 63")
    per_channel = {"scheme": "per_channel_affine", "axis": 0, "channels": 3, "scale_min": 0.0018827,
                   "scale_max": 0.0019559, "scales": [0.0018827, 0.0019, 0.0019559], "zero_points": [0, 0, 2]}  # fmt: skip
    assert dequantized_note("qint8", per_channel) == (
        "dequantized from qint8 with per-channel scales 0.001883 to 0.001956 (axis 0, 3 channels), "
        "zero points 0 to 2"
    )
    assert dequantized_note("quint8", None) == "dequantized from quint8"


def _static_state_dict(tmp_path_factory):
    return qf.write_all(tmp_path_factory.mktemp("static_sd"), qf.static_conv_net(), "s")["state_dict"]


@pytest.fixture(scope="module")
def static_state_dict(tmp_path_factory):
    return _static_state_dict(tmp_path_factory)


def test_stats_say_quantized_values_are_dequantized(static_state_dict, capsys):
    ckpt = load_checkpoint(static_state_dict)
    weight = ckpt.entry("fc.weight")
    scales = weight.quantization["scales"]
    assert main(["stats", str(static_state_dict), "--tensor", "fc.weight", "--tensor", "fc.bias"]) == 0
    weight_line, bias_line = capsys.readouterr().out.splitlines()
    assert weight_line.startswith(
        f"fc.weight, dequantized from qint8 with per-channel scales {min(scales):.4g} to {max(scales):.4g} "
        "(axis 0, 3 channels), zero point 0: min "
    )
    assert bias_line.startswith("fc.bias: min ")  # a float tensor is shown as stored
    assert (
        main(["stats", "--json", str(static_state_dict), "--tensor", "fc.weight", "--tensor", "fc.bias"]) == 0
    )
    weight_row, bias_row = json.loads(capsys.readouterr().out)["tensors"]
    assert weight_row["dequantized"] is True and weight_row["quantization"] == weight.quantization
    assert weight_row["dequantized_note"].startswith("dequantized from qint8 with per-channel scales")
    assert weight_row["min"] == pytest.approx(float(ckpt.tensor(weight).dequantize().min()))
    assert bias_row["dequantized"] is False


@pytest.mark.parametrize("name", ["features.0.weight", "fc.weight"])
def test_filters_title_and_summary_say_dequantized(static_state_dict, name, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from inspector.core import render
    from inspector.core.checkpoint.packed_params import dequantized_note

    out = tmp_path / "w.png"
    assert main(["filters", str(static_state_dict), "--tensor", name, "--out", str(out)]) == 0
    entry = load_checkpoint(static_state_dict).entry(name)
    note = dequantized_note("qint8", entry.quantization)
    assert capsys.readouterr().out.rstrip().endswith(f", values {note}")
    assert (
        render.tensor_title("f.pt", name, entry.shape, note)
        == f"f.pt · {name} {list(entry.shape)} · dequantized"
    )
    tensor = load_checkpoint(static_state_dict).tensor(entry)
    if name == "features.0.weight":
        grid = render.filter_grid(tensor, min_tile_px=render.READABLE_TILE_PX, max_side=render.PNG_MAX_SIDE)
        figure = render.grid_figure(grid, name, static_state_dict.name, note)
        plain = render.grid_figure(grid, name, static_state_dict.name)
    else:
        heat = render.heatmap_array(tensor)
        figure = render.heatmap_figure(heat, name, static_state_dict.name, entry.shape, note)
        plain = render.heatmap_figure(heat, name, static_state_dict.name, entry.shape)
    with Image.open(out) as img:
        np.testing.assert_array_equal(np.asarray(img), figure.rgb)  # the file is the titled figure ...
    assert figure.rgb.shape != plain.rgb.shape or not np.array_equal(
        figure.rgb, plain.rgb
    )  # ... with the note


def test_a_trusted_quantized_module_torch_cannot_rebuild_is_listed_from_its_records(saved):
    """torch.load of a pickled quantized module gives layers without ``_parameters`` (a torch bug): trusting the
    file was an 'unexpected AttributeError'; it lists as without trust, with a warning that says why."""
    model, paths = saved
    trusted = load_checkpoint(paths["module"], trust=True)
    untrusted = load_checkpoint(paths["module"])
    assert [e.name for e in trusted.entries] == [e.name for e in untrusted.entries]
    rebuilt = [w for w in trusted.warnings if "rebuilt a module that does not work" in w]
    try:
        dict(torch.load(paths["module"], weights_only=False).named_parameters())
    except AttributeError:
        assert rebuilt  # torch's own module is broken: said
    else:
        assert not rebuilt  # a torch that rebuilds it: nothing to say
