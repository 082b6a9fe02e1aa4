"""The loader opens every checkpoint form without running code, and lists real values."""

import json
import math

import checkpoint_factory as factory
import pytest
import torch

from inspector.core.checkpoint.loader import iter_load_checkpoint, load_checkpoint
from inspector.core.errors import InspectorError, UnsafeCheckpointError


def names(ckpt, group=None):
    return [e.name for e in ckpt.entries if group is None or e.group == group]


def test_plain_state_dict_lists_every_key_with_shapes(tmp_path):
    ckpt = load_checkpoint(factory.write_state_dict(tmp_path))
    assert ckpt.format == "state_dict" and ckpt.container == "zip"
    assert names(ckpt) == factory.STATE_KEYS
    conv = ckpt.entry("conv.weight")
    assert (conv.group, conv.shape, conv.dtype, conv.numel, conv.nbytes) == (
        "",
        (2, 1, 3, 3),
        "float32",
        18,
        72,
    )
    assert (conv.module, conv.attr) == ("conv", "weight")
    expected = factory.tiny_net().state_dict()["conv.weight"]
    assert torch.equal(ckpt.tensor(conv), expected)


def test_state_dict_totals_estimate_parameters(tmp_path):
    ckpt = load_checkpoint(factory.write_state_dict(tmp_path))
    totals = ckpt.totals
    assert totals.parameters == sum(p.numel() for p in factory.tiny_net().parameters())  # 18+2+2+2+24+3
    assert totals.parameters_estimated
    assert totals.bytes == sum(e.nbytes for e in ckpt.entries)


def test_data_parallel_prefix_is_stripped_for_modules_but_names_kept(tmp_path):
    ckpt = load_checkpoint(factory.write_data_parallel(tmp_path))
    assert names(ckpt)[0] == "module.conv.weight"
    assert ckpt.model_prefix == "module."
    assert ckpt.entry("module.conv.weight").canonical_name == "conv.weight"
    assert ckpt.entry("module.bn.running_mean").module == "bn"


def test_training_checkpoint_groups_and_metadata(tmp_path):
    ckpt = load_checkpoint(factory.write_training_checkpoint(tmp_path))
    assert ckpt.format == "training_checkpoint"
    assert ckpt.model_group == "model_state_dict"
    assert names(ckpt, "model_state_dict") == factory.STATE_KEYS
    assert "state.0.exp_avg" in names(ckpt, "optimizer_state_dict")
    assert ckpt.metadata["epoch"] == 7 and ckpt.metadata["loss"] == 0.125
    assert ckpt.metadata["optimizer"]["class"] == "Adam"
    assert ckpt.metadata["optimizer"]["lr"] == pytest.approx(1e-3)
    assert ckpt.metadata["hyper_parameters"] == {"lr": 1e-3, "batch_size": 32}


def test_lightning_checkpoint(tmp_path):
    ckpt = load_checkpoint(factory.write_lightning(tmp_path))
    assert ckpt.format == "lightning"
    assert ckpt.model_group == "state_dict" and ckpt.model_prefix == "model."
    assert names(ckpt, "state_dict") == [f"model.{k}" for k in factory.STATE_KEYS]
    assert ckpt.entry("state_dict/model.fc.weight").canonical_name == "fc.weight"
    assert ckpt.metadata["hyper_parameters"] == {"lr": 0.01, "hidden": 8}
    assert ckpt.metadata["global_step"] == 1200
    assert ckpt.metadata["optimizer"]["class"] == "Adam"


def test_nested_dicts_become_groups(tmp_path):
    ckpt = load_checkpoint(factory.write_nested(tmp_path))
    assert ckpt.format == "nested_dict"
    assert {(e.group, e.name) for e in ckpt.entries} == {
        ("encoder", "layer.weight"), ("encoder", "layer.bias"), ("decoder", "out.weight"),
    }  # fmt: skip
    assert ckpt.metadata["config"] == {"depth": 2, "name": "autoenc"}
    assert float(ckpt.tensor("decoder/out.weight").mean()) == 0.5


def test_pickled_module_is_listed_from_stubs_without_importing_its_class(tmp_path):
    ckpt = load_checkpoint(factory.write_pickled_module_unimportable(tmp_path))
    assert ckpt.format == "pickled_module" and not ckpt.trusted
    assert names(ckpt) == factory.STATE_KEYS
    kinds = {e.name: e.kind for e in ckpt.entries}
    assert [n for n, k in kinds.items() if k == "parameter"] == factory.PARAM_KEYS
    assert kinds["bn.running_mean"] == "buffer"
    assert ckpt.entry("conv.weight").requires_grad
    assert ckpt.module_classes["conv"] == "torch.nn.modules.conv.Conv2d"
    assert ckpt.module_classes[""].endswith(".TinyNet")
    assert any(g.endswith("TinyNet") for g in ckpt.stubbed_globals)
    assert torch.equal(ckpt.tensor("fc.bias"), factory.tiny_net().fc.bias.detach())


def test_trusting_a_module_whose_class_is_missing_names_it(tmp_path):
    path = factory.write_pickled_module_unimportable(tmp_path)
    with pytest.raises(InspectorError) as err:
        load_checkpoint(path, trust=True)
    message = err.value.message
    assert str(path) in message and "TinyNet" in message and "zzz" in message and "\n" not in message


def test_trusted_pickled_module_gives_the_real_module(tmp_path):
    ckpt = load_checkpoint(factory.write_pickled_module(tmp_path), trust=True)
    assert isinstance(ckpt.raw, factory.TinyNet) and ckpt.trusted
    assert names(ckpt) == factory.STATE_KEYS
    assert ckpt.entry("bn.running_var").kind == "buffer"


@pytest.mark.parametrize("writer", [factory.write_legacy, factory.write_legacy_module])
def test_legacy_format(tmp_path, writer):
    ckpt = load_checkpoint(writer(tmp_path))
    assert ckpt.container == "legacy"
    assert names(ckpt) == factory.STATE_KEYS
    assert torch.equal(ckpt.tensor("fc.weight"), factory.tiny_net().fc.weight.detach())


def test_torchscript_listed_without_jit_load(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.jit.load must not run untrusted")

    monkeypatch.setattr(torch.jit, "load", refuse)
    ckpt = load_checkpoint(factory.write_torchscript(tmp_path))
    assert ckpt.format == "torchscript"
    assert sorted(names(ckpt)) == sorted(factory.STATE_KEYS)
    kinds = {e.name: e.kind for e in ckpt.entries}
    assert kinds["conv.weight"] == "parameter" and kinds["bn.running_mean"] == "buffer"
    assert ckpt.module_classes["bn"] == "torch.nn.modules.batchnorm.BatchNorm2d"
    assert torch.equal(ckpt.tensor("conv.weight"), factory.tiny_net().conv.weight.detach())


def test_torchscript_trusted_uses_jit_load(tmp_path):
    ckpt = load_checkpoint(factory.write_torchscript(tmp_path), trust=True)
    assert isinstance(ckpt.raw, torch.jit.ScriptModule)
    assert sorted(names(ckpt)) == sorted(factory.STATE_KEYS)


def test_dtypes_and_quantized(tmp_path):
    ckpt = load_checkpoint(factory.write_dtypes(tmp_path))
    dtypes = {e.name: e.dtype for e in ckpt.entries}
    assert dtypes == {"half": "float16", "bf16": "bfloat16", "int8": "int8", "long": "int64", "bool": "bool",
                      "q": "qint8"}  # fmt: skip
    assert ckpt.entry("q").quantized and ckpt.entry("q").nbytes == 8
    assert ckpt.entry("half").nbytes == 12


def test_cuda_saved_tensors_open_on_cpu_and_remember_device(tmp_path):
    ckpt = load_checkpoint(factory.write_cuda_saved(tmp_path))
    assert ckpt.entry("w").device == "cuda:0"
    assert ckpt.metadata["saved_on_devices"] == ["cuda:0"]
    assert ckpt.tensor("w").device.type == "cpu"
    assert ckpt.tensor("w").tolist() == [0.0, 1.0, 2.0, 3.0]


def test_plain_pickle_of_numpy_arrays(tmp_path):
    ckpt = load_checkpoint(factory.write_numpy_pickle(tmp_path))
    assert ckpt.container == "pickle"
    assert ckpt.entry("w").shape == (2, 3) and ckpt.entry("w").dtype == "float32"
    assert ckpt.metadata["note"] == "numpy"
    assert ckpt.tensor("w").sum().item() == 15


def test_gzip_wrapped_checkpoint(tmp_path):
    ckpt = load_checkpoint(factory.write_gzip(tmp_path))
    assert ckpt.compression == "gzip"
    assert names(ckpt) == factory.STATE_KEYS


def test_zip_wrapper_around_a_checkpoint(tmp_path):
    import zipfile

    inner = factory.write_state_dict(tmp_path)
    wrapper = tmp_path / "release.zip"
    with zipfile.ZipFile(wrapper, "w") as z:
        z.write(inner, "weights/model.pth")
    ckpt = load_checkpoint(wrapper)
    assert names(ckpt) == factory.STATE_KEYS


def test_safetensors_header_only(tmp_path):
    ckpt = load_checkpoint(factory.write_safetensors(tmp_path))
    assert ckpt.format == "safetensors"
    assert sorted(names(ckpt)) == sorted(factory.STATE_KEYS)
    assert ckpt.entry("fc.weight").shape == (3, 8)
    assert ckpt.metadata["safetensors_metadata"] == {"source": "tests"}
    assert torch.equal(ckpt.tensor("fc.weight"), factory.tiny_net().fc.weight.detach())


def test_form_is_decided_by_bytes_not_name(tmp_path):
    path = factory.write_safetensors(tmp_path)
    renamed = path.rename(tmp_path / "weights.ckpt")
    assert load_checkpoint(renamed).format == "safetensors"


def test_load_job_reports_progress(tmp_path):
    job = iter_load_checkpoint(factory.write_state_dict(tmp_path))
    records = []
    while True:
        try:
            records.append(next(job))
        except StopIteration as stop:
            ckpt = stop.value
            break
    assert len(records) >= 3 and records[-1].done == records[-1].total
    assert ckpt.entries


def test_json_is_strict(tmp_path):
    ckpt = load_checkpoint(factory.write_training_checkpoint(tmp_path))
    text = json.dumps(ckpt.to_json(), allow_nan=False)
    assert json.loads(text)["entries"][0]["name"] == "conv.weight"


# -- bad input --------------------------------------------------------------------------------------------------
def _one_line_error(path, **kwargs) -> str:
    with pytest.raises(InspectorError) as err:
        load_checkpoint(path, **kwargs)
    message = err.value.message
    assert str(path) in message and "\n" not in message
    return message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    assert "empty" in _one_line_error(path)


@pytest.mark.parametrize(
    "writer", [factory.write_state_dict, factory.write_legacy, factory.write_safetensors]
)
def test_truncated_files(tmp_path, writer):
    path = writer(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert "re-download" in _one_line_error(path) or "corrupt" in _one_line_error(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(bytes((i * 7919 + 13) % 256 for i in range(5000)))
    _one_line_error(path)


def test_png_renamed_pth(tmp_path):
    path = tmp_path / "picture.pth"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    assert "PNG image" in _one_line_error(path)


def test_missing_file_and_folder(tmp_path):
    assert "no such file" in _one_line_error(tmp_path / "nope.pth")
    assert "folder" in _one_line_error(tmp_path)


@pytest.mark.parametrize("trust", [False, True])
def test_malicious_reduce_never_runs(tmp_path, trust):
    target = tmp_path / "created_by_payload"
    path = factory.write_malicious(tmp_path, target)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint(path, trust=trust)
    assert "system" in err.value.message and str(path) in err.value.message
    assert not target.exists()


def test_malicious_plain_pickle_never_runs(tmp_path):
    target = tmp_path / "created_by_payload"
    path = factory.write_malicious_plain_pickle(tmp_path, target)
    with pytest.raises(UnsafeCheckpointError):
        load_checkpoint(path)
    assert not target.exists()


def test_eval_is_refused_by_name(tmp_path):
    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint(factory.write_eval_pickle(tmp_path))
    assert err.value.dangerous == ["builtins.eval"]


def test_stats_are_exact(tmp_path):
    from inspector.core.analysis.stats import tensor_stats

    t = torch.tensor([[0.0, 1.0, float("nan")], [3.0, float("inf"), -2.0]])
    s = tensor_stats(t)
    finite = torch.tensor([0.0, 1.0, 3.0, -2.0], dtype=torch.float64)
    assert (s.min, s.max, s.nan, s.inf, s.zeros) == (-2.0, 3.0, 1, 1, 1)
    assert s.mean == pytest.approx(float(finite.mean())) and s.std == pytest.approx(float(finite.std()))
    big = torch.randn(10_001, dtype=torch.float64)
    from inspector.core.analysis.stats import iter_tensor_stats
    from inspector.core.jobs import run_job

    chunked = run_job(iter_tensor_stats(big, chunk=997))
    assert chunked.std == pytest.approx(float(big.std()), rel=1e-12)
    assert math.isclose(chunked.mean, float(big.mean()), abs_tol=1e-12)
