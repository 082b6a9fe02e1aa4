"""Quantized weights that live inside packed parameters, read from what the pickle left, never rebuilt.

A quantized ``Linear`` or ``Conv2d`` (``torch.ao.nn.quantized``, eager or TorchScript) does not hold its weight
as a parameter: fbgemm/qnnpack pack it into a C++ object, and each way of saving unpacks it differently:

- a **state dict** stores ``fc._packed_params._packed_params`` as the tuple ``(qweight, bias)`` (conv modules
  write ``features.0.weight``/``bias`` themselves, so those are plain entries already);
- a **pickled module** (``torch.save(model)``) keeps ``fc._packed_params`` as a ``LinearPackedParams``
  submodule whose own ``_packed_params`` is a ``torch.ScriptObject`` BUILT with
  ``((qweight, bias), "__torch__.torch.classes.quantized.LinearPackedParamsBase")``; conv packed params
  (``Conv2dPackedParamsBase``) carry ``("2", [config, qweight], [bias])`` or ``(3, config, [qweight, bias])``;
  a quantized conv module pickles its ``__getstate__`` tuple ``(in_channels, ..., weight, bias, scale,
  zero_point, training)`` instead of a ``__dict__``;
- a **TorchScript** archive has the same conv tuple, and a ``LinearPackedParamsBase`` object whose state is
  ``(qweight, bias)``.

Untrusted, every one of those classes is an inert stub (``stubs.py``) that only recorded its state; the
functions here read the quantized tensors out of those records (which the allowlisted ``_rebuild_qtensor``
already checked against their storages) so the listing can name them ``fc.weight``/``fc.bias`` under their
module. No class is imported or called.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inspector.core.checkpoint.stubs import Stub

PACKED_KEY = "_packed_params"
EMBEDDING_KEY = "_packed_weight"  # EmbeddingPackedParams' attribute (and its state-dict key)
LINEAR_CLASSES = ("LinearPackedParams", "LinearPackedParamsBase")  # class names that say "a Linear's"
CELL_KEY = "param"  # a dynamic RNN's PackedParameter module keeps its cell's packed weights here
STATE_DICT_SUFFIX = "_packed_params._packed_params"  # state-dict key of a quantized Linear's (weight, bias)
EMBEDDING_SUFFIX = "_packed_params._packed_weight"  # state-dict key of a quantized Embedding's weight
# the order of torch.ao.nn.quantized's _ConvNd.__getstate__
CONV_STATE_NAMES = (
    "in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "transposed",
    "output_padding", "groups", "padding_mode",
)  # fmt: skip
CONV_WEIGHT_AT = len(CONV_STATE_NAMES)


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def _is_quantized(value: Any) -> bool:
    return _is_tensor(value) and value.is_quantized


def unpack(value: Any, depth: int = 0, linear: bool = False) -> tuple[Any, Any] | None:
    """``(quantized weight, bias or None)`` from any recorded form of packed parameters, else None.

    ``linear``: ``value`` is known to be a Linear's packed parameters (a state-dict ``_packed_params`` key,
    a ``LinearPackedParams`` object), where fp16 dynamic quantization keeps a float weight."""
    if depth > 4:
        return None
    if isinstance(value, Stub):
        state = value.stub_state
        linear = linear or value.stub_name.endswith(LINEAR_CLASSES)
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], str):
            linear = linear or state[1].endswith(LINEAR_CLASSES)
            state = state[0]  # torch.ScriptObject: (payload, "__torch__.torch.classes.quantized....")
        elif isinstance(state, dict):  # the LinearPackedParams / EmbeddingPackedParams module itself
            state = next((state[k] for k in (PACKED_KEY, EMBEDDING_KEY) if k in state), None)
        return unpack(state, depth + 1, linear)
    if is_script_object(value):  # trusted files only: a real packed object gives its state
        try:
            value = value.__getstate__()
        except Exception:  # a custom class without one: nothing to read
            return None
    if not isinstance(value, tuple | list):
        return None
    if len(value) == 2 and _is_weight(value[0], linear) and (value[1] is None or _is_tensor(value[1])):
        return value[0], value[1]
    if len(value) == 2 and isinstance(value[1], str):
        return unpack(value[0], depth + 1, linear or value[1].endswith(LINEAR_CLASSES))
    if len(value) in (3, 4) and all(isinstance(v, tuple | list) for v in value[1:]):
        # conv ("2", [config, w], [b]) or (3, config, [w, b]); embedding (1, [w], [], [bit rate...])
        return _conv_payload([item for part in value[1:] for item in part[:8]])
    return None


def _is_weight(value: Any, linear: bool) -> bool:
    return _is_quantized(value) or (linear and _is_tensor(value) and value.is_floating_point())


def unpack_named(value: Any, linear: bool = False) -> dict[str, Any] | None:
    """What packed parameters hold, by the names the float module had: ``{"weight", "bias"}`` (no bias
    when there is none), or a dynamic RNN cell's ``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``."""
    if is_script_object(value):  # trusted files only: a real packed object gives its state
        try:
            value = value.__getstate__()
        except Exception:  # a custom class without one: nothing to read
            return None
    cell = _rnn_cell(value)
    if cell is not None:
        return cell
    found = unpack(value, linear=linear)
    if found is None:
        return None
    return {name: t for name, t in zip(("weight", "bias"), found, strict=True) if t is not None}


def _rnn_cell(value: Any) -> dict[str, Any] | None:
    """``CellParamsBase`` of a dynamic quantized LSTM/GRU: ``(("quantized_dynamic", [b_ih, b_hh], [], [...],
    [packed_ih, packed_hh]), "__torch__.torch.classes.rnn.CellParamsBase")``."""
    state = value.stub_state if isinstance(value, Stub) else value
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], str):
        state = state[0]
    if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[0], str)):
        return None
    if not state[0].startswith("quantized") or not all(isinstance(v, list | tuple) for v in state[1:]):
        return None
    packed = [unpack(p) for p in state[4][:2]]
    if len(packed) != 2 or None in packed:
        return None
    biases = [b for b in state[1][:2] if _is_tensor(b)]
    if len(biases) != 2:
        biases = [p[1] for p in packed]
    cell = {"weight_ih": packed[0][0], "weight_hh": packed[1][0], "bias_ih": biases[0], "bias_hh": biases[1]}
    return {name: t for name, t in cell.items() if t is not None}


def is_script_object(value: Any) -> bool:
    import torch

    return isinstance(value, torch.ScriptObject)


def _conv_payload(items: list) -> tuple[Any, Any] | None:
    """Conv packed params: the one quantized tensor is the weight, a floating one after it the bias (the
    int16 config tensor of format 2 is neither)."""
    weights = [t for t in items if _is_quantized(t)]
    if len(weights) != 1:
        return None
    biases = [t for t in items if _is_tensor(t) and not t.is_quantized and t.is_floating_point()]
    return weights[0], (biases[0] if biases else None)


def module_packed(state: Mapping) -> tuple[str, dict[str, Any]] | None:
    """``(where, {"weight": ..., "bias": ...})`` for a quantized module's state: its own ``_packed_params``
    attribute (conv tuple, ScriptObject), its ``_packed_params`` submodule (Linear's ``LinearPackedParams``,
    Embedding's ``EmbeddingPackedParams``), or a dynamic RNN's ``PackedParameter.param`` (the cell)."""
    modules = state.get("_modules")
    if isinstance(modules, Stub):
        modules = modules.stub_items
    for key in (PACKED_KEY, CELL_KEY):
        value = state.get(key)
        if value is None and key == PACKED_KEY and isinstance(modules, Mapping):
            value = modules.get(key)
        found = unpack_named(value) if value is not None else None
        if found:
            return key, found
    return None


QFUNCTIONAL_CLASS = "QFunctional"  # torch.ao.nn.quantized's FloatFunctional replacement: no packed weights


def output_qparams(state: Mapping, class_name: str, packed: bool) -> dict[str, Any] | None:
    """``{"scale": tensor, "zero_point": tensor}``: a quantized module's output quantization as its state
    dict has it, else None.

    Quantized conv and Linear modules (static, dynamic, fused, sparse) and ``QFunctional`` keep ``scale`` and
    ``zero_point`` as plain Python numbers, and their ``_save_to_state_dict`` writes them as
    ``torch.tensor(self.scale)`` (0-dim float32) and ``torch.tensor(self.zero_point)`` (0-dim int64). A
    pickled module or TorchScript archive holds only the numbers; listing them the same way makes the three
    forms of one model list, and diff, alike. Other quantized modules with a Python ``scale`` (ELU, Softmax,
    PReLU) do not save it, so only modules with packed weights (``packed``) or ``QFunctional`` get them."""
    import torch

    if not (packed or class_name.rsplit(".", 1)[-1] == QFUNCTIONAL_CLASS):
        return None
    scale, zero_point = state.get("scale"), state.get("zero_point")
    if not isinstance(scale, float | int) or isinstance(scale, bool):
        return None
    if not isinstance(zero_point, int) or isinstance(zero_point, bool):
        return None
    return {"scale": torch.tensor(float(scale)), "zero_point": torch.tensor(zero_point, dtype=torch.int64)}


def conv_module_state(state: Any) -> dict | None:
    """A quantized conv module's ``__getstate__`` tuple as the attribute dict of a module, else None.

    The weight and bias go under ``_packed_params`` as ``(weight, bias)``, where :func:`module_packed` finds
    them; the rest keep torch's names (``scale``, ``zero_point`` are the output's quantization)."""
    if not (isinstance(state, tuple) and CONV_WEIGHT_AT + 4 <= len(state) <= CONV_WEIGHT_AT + 6):
        return None
    weight, bias = state[CONV_WEIGHT_AT], state[CONV_WEIGHT_AT + 1]
    if not _is_quantized(weight) or not (bias is None or _is_tensor(bias)):
        return None
    attrs: dict[str, Any] = dict(zip(CONV_STATE_NAMES, state, strict=False))
    attrs.update(_parameters={}, _buffers={}, _modules={}, _packed_params=(weight, bias))
    attrs["scale"], attrs["zero_point"] = state[CONV_WEIGHT_AT + 2], state[CONV_WEIGHT_AT + 3]
    if len(state) > CONV_WEIGHT_AT + 4:
        attrs["training"] = state[CONV_WEIGHT_AT + 4]
    return attrs


def quantization_of(tensor: Any, max_channels: int = 1024) -> dict | None:
    """How a quantized tensor maps to real values: scheme, scale and zero point (per channel: the lists, up
    to ``max_channels``, with their range and axis); None for anything not quantized."""
    import torch

    if not _is_quantized(tensor):
        return None
    scheme = tensor.qscheme()
    info: dict[str, Any] = {"scheme": str(scheme).removeprefix("torch.")}
    if scheme in (torch.per_tensor_affine, torch.per_tensor_symmetric):
        info.update(scale=float(tensor.q_scale()), zero_point=int(tensor.q_zero_point()))
        return info
    scales = tensor.q_per_channel_scales().double()
    zero_points = tensor.q_per_channel_zero_points()
    info.update(axis=int(tensor.q_per_channel_axis()), channels=int(scales.numel()))
    if scales.numel():
        info.update(scale_min=float(scales.min()), scale_max=float(scales.max()))
    if scales.numel() <= max_channels:
        info.update(scales=scales.tolist(), zero_points=zero_points.tolist())
    return info


def describe_quantization(info: dict | None) -> str:
    """One line for Details: ``per-channel affine (axis 0): scales 0.0023 to 0.0026 over 4 channels``."""
    if not info:
        return ""
    scheme = info["scheme"].replace("per_tensor", "per-tensor").replace("per_channel", "per-channel")
    scheme = scheme.replace("_", " ")
    if "scale" in info:
        return f"{scheme}: scale {info['scale']:.6g}, zero point {info['zero_point']}"
    text = f"{scheme} (axis {info['axis']}): {info['channels']} channels"
    if "scale_min" in info:
        text += f", scales {info['scale_min']:.6g} to {info['scale_max']:.6g}"
    zero_points = info.get("zero_points")
    if zero_points is not None and len(set(zero_points)) == 1:
        text += f", zero point {zero_points[0]}"
    return text


def dequantized_note(dtype: str, info: dict | None) -> str:
    """What to say wherever a quantized tensor's values are shown or summarised: they are not the stored
    integers but ``(q - zero_point) * scale``, so every caption names the scale and zero point used:
    ``dequantized from qint8 with scale 0.0067, zero point 63``, or per channel ``dequantized from qint8
    with per-channel scales 0.00188 to 0.00196 (axis 0, 3 channels), zero point 0``."""
    text = f"dequantized from {dtype}"
    if not info:
        return text
    if "scale" in info:
        return f"{text} with scale {info['scale']:.4g}, zero point {info['zero_point']}"
    channels = f"axis {info['axis']}, {info['channels']} channels"
    if "scale_min" in info:
        text += f" with per-channel scales {info['scale_min']:.4g} to {info['scale_max']:.4g} ({channels})"
    else:
        text += f" with per-channel scales ({channels})"
    zero_points = info.get("zero_points")
    if zero_points:
        lo, hi = min(zero_points), max(zero_points)
        text += f", zero point {lo}" if lo == hi else f", zero points {lo} to {hi}"
    return text
