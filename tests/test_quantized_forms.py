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


@pytest.fixture
def torch_warns_again():
    """torch warns of TypedStorage's removal once per process: reset that, so this test sees the warning
    whichever test loaded a file first."""
    import torch.storage

    reset = getattr(torch.storage, "_reset_warn_typed_storage_removal", None)
    if reset is not None:
        reset()


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
