"""Write a checkpoint of every form the loader must open, with values the tests can check.

Each ``write_*`` function takes a folder and returns the path it wrote. ``TinyNet`` is defined here, so a
whole-module pickle names ``tests.checkpoint_factory.TinyNet``; tests that must prove the class is *not*
importable rename that global in the pickle (see :func:`write_pickled_module_unimportable`).
"""

from __future__ import annotations

import collections
import gzip
import os
import pathlib
import pickle
import warnings

import torch
from torch import nn


class TinyNet(nn.Module):
    """conv (2x1x3x3) -> BatchNorm -> linear (3x8): parameters, buffers, three module types."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        return self.fc(self.bn(self.conv(x)).flatten(1)[:, :8])


STATE_KEYS = [
    "conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
    "bn.num_batches_tracked", "fc.weight", "fc.bias",
]  # fmt: skip
PARAM_KEYS = ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "fc.weight", "fc.bias"]


def tiny_net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet()


def one_adam_step(model: nn.Module) -> torch.optim.Optimizer:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 1, 4, 4)).sum().backward()
    opt.step()
    return opt


def write(folder, name: str, obj, **kwargs) -> pathlib.Path:
    path = pathlib.Path(folder) / name
    torch.save(obj, path, **kwargs)
    return path


def write_state_dict(folder, name="plain.pth") -> pathlib.Path:
    return write(folder, name, tiny_net().state_dict())


def write_data_parallel(folder) -> pathlib.Path:
    sd = tiny_net().state_dict()
    return write(folder, "dp.pth", collections.OrderedDict((f"module.{k}", v) for k, v in sd.items()))


def write_training_checkpoint(folder) -> pathlib.Path:
    model = tiny_net()
    opt = one_adam_step(model)
    return write(folder, "train.pt", {
        "model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict(),
        "epoch": 7, "loss": 0.125, "hparams": {"lr": 1e-3, "batch_size": 32},
    })  # fmt: skip


def write_lightning(folder) -> pathlib.Path:
    model = tiny_net()
    opt = one_adam_step(model)
    return write(folder, "model.ckpt", {
        "epoch": 4, "global_step": 1200, "pytorch-lightning_version": "2.4.0",
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "hyper_parameters": {"lr": 0.01, "hidden": 8},
        "optimizer_states": [opt.state_dict()], "lr_schedulers": [], "callbacks": {},
    })  # fmt: skip


def write_nested(folder) -> pathlib.Path:
    return write(folder, "nested.pt", {
        "encoder": {"layer.weight": torch.ones(4, 2), "layer.bias": torch.zeros(4)},
        "decoder": {"out.weight": torch.full((2, 4), 0.5)},
        "config": {"depth": 2, "name": "autoenc"},
    })  # fmt: skip


def write_pickled_module(folder) -> pathlib.Path:
    return write(folder, "full.pth", tiny_net())


def write_pickled_module_unimportable(folder) -> pathlib.Path:
    """A whole-module pickle whose class lives in a module nobody can import."""
    path = write_pickled_module(folder)
    import zipfile

    src = zipfile.ZipFile(path)
    out_path = pathlib.Path(folder) / "full_missing_class.pth"
    with zipfile.ZipFile(out_path, "w", compression=zipfile.ZIP_STORED) as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):  # same length keeps the archive's record alignment
                module = TinyNet.__module__.encode()
                data = data.replace(module, b"z" * len(module))
            out.writestr(info, data)
    return out_path


def write_legacy(folder) -> pathlib.Path:
    return write(folder, "legacy.pth", tiny_net().state_dict(), _use_new_zipfile_serialization=False)


def write_legacy_module(folder) -> pathlib.Path:
    return write(folder, "legacy_full.pth", tiny_net(), _use_new_zipfile_serialization=False)


def write_torchscript(folder) -> pathlib.Path:
    path = pathlib.Path(folder) / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(tiny_net(), torch.randn(1, 1, 4, 4)), path)
    return path


def write_dtypes(folder) -> pathlib.Path:
    return write(folder, "dtypes.pth", {
        "half": torch.ones(2, 3, dtype=torch.float16),
        "bf16": torch.full((4,), 2.0, dtype=torch.bfloat16),
        "int8": torch.arange(6, dtype=torch.int8),
        "long": torch.arange(3),
        "bool": torch.tensor([True, False]),
        "q": torch.quantize_per_tensor(torch.linspace(-1, 1, 8), 0.1, 0, torch.qint8),
    })  # fmt: skip


def write_cuda_saved(folder) -> pathlib.Path:
    """A state dict whose storages are tagged ``cuda:0``, as if saved on a GPU machine."""
    original = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        return write(folder, "cuda.pth", {"w": torch.arange(4.0)})
    finally:
        torch.serialization.location_tag = original


def write_numpy_pickle(folder) -> pathlib.Path:
    import numpy as np

    path = pathlib.Path(folder) / "arrays.pkl"
    with open(path, "wb") as f:
        pickle.dump({"w": np.arange(6, dtype=np.float32).reshape(2, 3), "note": "numpy"}, f)
    return path


def write_gzip(folder) -> pathlib.Path:
    plain = write_state_dict(folder, "inner.pth")
    path = pathlib.Path(folder) / "compressed.pth.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    return path


def write_safetensors(folder) -> pathlib.Path:
    from safetensors.torch import save_file

    path = pathlib.Path(folder) / "model.safetensors"
    save_file(dict(tiny_net().state_dict()), str(path), metadata={"source": "tests"})
    return path


class _CreatesFile:
    """Unpickling this would create ``target`` via os.system (if the loader ever ran it)."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _EvalsCode:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def write_malicious(folder, target) -> pathlib.Path:
    return write(folder, "evil.pth", {"w": torch.ones(2), "payload": _CreatesFile(target)})


def write_malicious_plain_pickle(folder, target) -> pathlib.Path:
    path = pathlib.Path(folder) / "evil.pkl"
    path.write_bytes(pickle.dumps(_CreatesFile(target)))
    return path


def write_eval_pickle(folder) -> pathlib.Path:
    return write(folder, "eval.pth", {"x": _EvalsCode()})


GOOD_WRITERS = {
    "state_dict": write_state_dict,
    "data_parallel": write_data_parallel,
    "training": write_training_checkpoint,
    "lightning": write_lightning,
    "nested": write_nested,
    "pickled_module": write_pickled_module,
    "legacy": write_legacy,
    "legacy_module": write_legacy_module,
    "torchscript": write_torchscript,
    "dtypes": write_dtypes,
    "cuda": write_cuda_saved,
    "numpy_pickle": write_numpy_pickle,
    "gzip": write_gzip,
    "safetensors": write_safetensors,
}
