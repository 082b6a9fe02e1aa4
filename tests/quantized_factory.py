"""Quantized models saved every way people save them, for the packed-parameter tests.

``QuantConvNet`` is statically quantized (a conv with per-channel qint8 weights, a Linear whose weight lives
in ``LinearPackedParams``); ``dynamic_linear_net`` is ``quantize_dynamic`` on two Linears (per-tensor qint8).
Each is written as a state dict, a whole pickled module and a TorchScript archive. The engine is the first of
fbgemm/x86/qnnpack this CPU supports (``torch.backends.quantized.supported_engines``).
"""

from __future__ import annotations

import contextlib
import pathlib
import warnings

import torch
from torch import nn

ENGINES = ("fbgemm", "x86", "qnnpack")


def engine() -> str | None:
    supported = torch.backends.quantized.supported_engines
    return next((e for e in ENGINES if e in supported), None)


@contextlib.contextmanager
def quantized_engine():
    """Use :func:`engine` while building and scripting; restore the process-wide choice after."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        try:
            yield
        finally:
            torch.backends.quantized.engine = previous


class QuantConvNet(nn.Module):
    """quant -> features (Conv2d 1->4, 3x3; ReLU) -> fc (16 -> 3) -> dequant."""

    def __init__(self):
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
        self.fc = nn.Linear(16, 3)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x):
        x = self.features(self.quant(x))
        return self.dequant(self.fc(x.flatten(1)[:, :16]))


def static_conv_net(seed: int = 0) -> nn.Module:
    with quantized_engine():
        torch.manual_seed(seed)
        model = QuantConvNet().eval()
        model.qconfig = torch.ao.quantization.get_default_qconfig(torch.backends.quantized.engine)
        torch.ao.quantization.prepare(model, inplace=True)
        model(torch.randn(8, 1, 6, 6))  # calibrate
        torch.ao.quantization.convert(model, inplace=True)
    return model


def dynamic_linear_net(seed: int = 0) -> nn.Module:
    with quantized_engine():
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def write_all(folder, model: nn.Module, stem: str) -> dict[str, pathlib.Path]:
    """``{"state_dict": ..., "module": ..., "torchscript": ...}``: ``model`` saved the three ways."""
    folder = pathlib.Path(folder)
    paths = {form: folder / f"{stem}_{form}.pt" for form in ("state_dict", "module", "torchscript")}
    with quantized_engine():
        torch.save(model.state_dict(), paths["state_dict"])
        torch.save(model, paths["module"])
        torch.jit.save(torch.jit.script(model), paths["torchscript"])
    return paths


def expected_weights(model: nn.Module) -> dict[str, tuple[torch.Tensor, torch.Tensor | None]]:
    """``{"features.0": (qweight, bias), "fc": ...}``: what each quantized layer holds, from torch itself."""
    found = {}
    for name, module in model.named_modules():
        if callable(getattr(module, "weight", None)) and callable(getattr(module, "bias", None)):
            found[name] = (module.weight(), module.bias())
    return found


class FunctionalNet(nn.Module):
    """conv (fused with BatchNorm and ReLU by FX) -> fc, plus ``F.linear`` on a bare parameter: FX keeps that
    one's packed weight as a graph attribute, ``_packed_weight_0``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(16, 3)
        self.extra = nn.Parameter(torch.randn(5, 16))

    def forward(self, x):
        x = nn.functional.relu(self.bn(self.conv(x))).flatten(1)[:, :16]
        return self.fc(x) + nn.functional.linear(x, self.extra)[:, :3]


def fx_quantized_net(seed: int = 0) -> nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    with quantized_engine():
        torch.manual_seed(seed)
        example = (torch.randn(4, 1, 6, 6),)
        mapping = get_default_qconfig_mapping(torch.backends.quantized.engine)
        prepared = prepare_fx(FunctionalNet().eval(), mapping, example)
        prepared(*example)
        return convert_fx(prepared)


class EmbeddingLSTM(nn.Module):
    """A weight-only quantized Embedding (quint8, float qparams) and a dynamic quantized LSTM."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.lstm = nn.LSTM(4, 3)


def embedding_lstm_net(seed: int = 0) -> nn.Module:
    from torch.ao.quantization import float_qparams_weight_only_qconfig

    with quantized_engine():
        torch.manual_seed(seed)
        model = EmbeddingLSTM().eval()
        model.emb.qconfig = float_qparams_weight_only_qconfig
        torch.ao.quantization.prepare(model, inplace=True)
        torch.ao.quantization.convert(model, inplace=True)
        return torch.ao.quantization.quantize_dynamic(model, {nn.LSTM}, dtype=torch.qint8)


def fp16_linear_net(seed: int = 0) -> nn.Module:
    """``quantize_dynamic(dtype=torch.float16)``: the packed weight is a float tensor, not a quantized one."""
    with quantized_engine():
        torch.manual_seed(seed)
        return torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(8, 4)), {nn.Linear},
                                                      dtype=torch.float16)  # fmt: skip
