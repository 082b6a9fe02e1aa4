"""Parameter or buffer for every row of the model group, also when the file only holds a state dict.

A state dict does not say which tensors are parameters. A module (pickled or trusted) says it, and so does a
recognised architecture (``inspector.core.models.architectures``); what neither covers is decided here by name:
BatchNorm's running statistics, ``num_batches_tracked`` and a few well-known buffer names, and every tensor
that is not floating point, are buffers; the rest are parameters. Those rows carry ``kind_estimated`` so the
tree, the table and the JSON can say it is a guess.

The rule for the mark is per file, not per row: in a state dict that no architecture matched, every row of the
model group is estimated, also the weights the listing reads out of quantized packed parameters
(``fc._packed_params._packed_params`` -> ``fc.weight``, ``fc.bias``): the packed layout names them, but no
module declares them, just as nothing declares the quantized conv's plain ``features.0.weight`` beside them.
Where a module (pickled, TorchScript, trusted) or a recognised architecture declares the kinds, no row is.
"""

from __future__ import annotations

from inspector.core.checkpoint.model import Checkpoint, TensorEntry

BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked", "position_ids", "anchors"})
# a quantized module's output quantization: buffers of Quantize, plain values of quantized Linear/Conv
QUANTIZATION_PAIR = frozenset({"scale", "zero_point"})
_FLOAT_PREFIXES = ("float", "bfloat", "complex")


def looks_like_parameter(entry: TensorEntry, quantization_pairs: frozenset[str] = frozenset()) -> bool:
    """Floating-point tensors (and quantized weights: qint8 ``features.0.weight``) are parameters, except
    well-known buffer names and a module's ``scale`` beside a ``zero_point`` (in ``quantization_pairs``)."""
    leaf = entry.attr or entry.name.rpartition(".")[2]
    if leaf in QUANTIZATION_PAIR and entry.module in quantization_pairs:
        return False
    return (entry.dtype.startswith(_FLOAT_PREFIXES) or entry.quantized) and leaf not in BUFFER_NAMES


def _modules_with_quantization_pair(entries: list[TensorEntry]) -> frozenset[str]:
    leaves: dict[str, set[str]] = {}
    for entry in entries:
        leaves.setdefault(entry.module, set()).add(entry.attr)
    return frozenset(module for module, attrs in leaves.items() if attrs >= QUANTIZATION_PAIR)


def estimate_model_kinds(ckpt: Checkpoint) -> int:
    """Give the model group's still-untyped rows (kind ``tensor``) a kind by name; returns how many."""
    if ckpt.model_group is None:
        return 0
    changed = 0
    entries = ckpt.model_entries()
    pairs = _modules_with_quantization_pair(entries)
    for entry in entries:
        if entry.kind != "tensor":
            continue
        parameter = looks_like_parameter(entry, pairs)
        entry.kind = "parameter" if parameter else "buffer"
        # a saved state dict drops requires_grad; parameters train by default (quantized ones cannot)
        entry.requires_grad = parameter and not entry.quantized
        entry.trainable_source = "inferred"
        entry.kind_estimated = True
        changed += 1
    return changed


MAX_FROZEN_NAMES = 1_000_000


def saved_frozen_names(obj) -> tuple[str, ...] | None:
    """The ``frozen`` names of a file ``inspector finetune`` wrote (a dict with ``frozen`` and ``trainable``
    lists of names beside ``model_state_dict``); None for any other file. Read from the loaded object, not the
    metadata summary, which shortens long lists."""
    if not isinstance(obj, dict):
        return None
    frozen, trainable = obj.get("frozen"), obj.get("trainable")
    if not (isinstance(frozen, list) and isinstance(trainable, list) and "model_state_dict" in obj):
        return None
    if len(frozen) > MAX_FROZEN_NAMES or not all(isinstance(n, str) for n in frozen):
        return None
    return tuple(frozen)


def apply_saved_frozen(ckpt: Checkpoint) -> int:
    """A state dict drops ``requires_grad``, so every parameter reads as trainable; a fine-tuned file says
    which it froze. Parameters whose trainability was only inferred follow that list; returns how many did."""
    if ckpt.saved_frozen is None:
        return 0
    frozen = set(ckpt.saved_frozen)
    changed = 0
    for entry in ckpt.model_entries():
        if entry.kind == "parameter" and entry.trainable_source == "inferred":
            entry.requires_grad = entry.canonical_name not in frozen and not entry.quantized
            entry.trainable_source = "frozen list"
            changed += 1
    return changed


def mark_quantized_layers(ckpt: Checkpoint) -> int:
    """Nothing in a converted quantized layer trains: its weight is quantized or packed, and its float bias
    lives in the same packed parameters (``conv.bias`` float32 reads as a parameter, and a state dict drops
    ``requires_grad``, so it would say "trainable"). Every row of a module with a quantized or packed
    tensor is marked not trainable, ``trainable_source`` "quantized"; returns how many rows changed."""
    entries = ckpt.model_entries()
    layers = {e.module for e in entries if e.quantized or e.packed_in}
    changed = 0
    for entry in entries:
        if entry.module in layers:
            changed += entry.requires_grad
            entry.requires_grad = False
            entry.trainable_source = "quantized"
    return changed
