"""Parameter or buffer for every row of the model group, also when the file only holds a state dict.

A state dict does not say which tensors are parameters. A module (pickled or trusted) says it, and so does a
recognised architecture (``inspector.core.models.architectures``); what neither covers is decided here by name:
BatchNorm's running statistics, ``num_batches_tracked`` and a few well-known buffer names, and every tensor
that is not floating point, are buffers; the rest are parameters. Those rows carry ``kind_estimated`` so the
tree, the table and the JSON can say it is a guess.
"""

from __future__ import annotations

from inspector.core.checkpoint.model import Checkpoint, TensorEntry

BUFFER_NAMES = frozenset({"running_mean", "running_var", "num_batches_tracked", "position_ids", "anchors"})
_FLOAT_PREFIXES = ("float", "bfloat", "complex")


def looks_like_parameter(entry: TensorEntry) -> bool:
    leaf = entry.attr or entry.name.rpartition(".")[2]
    return entry.dtype.startswith(_FLOAT_PREFIXES) and leaf not in BUFFER_NAMES


def estimate_model_kinds(ckpt: Checkpoint) -> int:
    """Give the model group's still-untyped rows (kind ``tensor``) a kind by name; returns how many."""
    if ckpt.model_group is None:
        return 0
    changed = 0
    for entry in ckpt.model_entries():
        if entry.kind != "tensor":
            continue
        parameter = looks_like_parameter(entry)
        entry.kind = "parameter" if parameter else "buffer"
        entry.requires_grad = parameter  # a saved state dict drops requires_grad; parameters train by default
        entry.kind_estimated = True
        changed += 1
    return changed
