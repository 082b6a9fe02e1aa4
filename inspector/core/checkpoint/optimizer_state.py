"""Name optimizer state after the parameters it belongs to: ``state.0.exp_avg`` is "exp_avg of conv1.weight".

An optimizer's ``state_dict`` keys its per-parameter state by position (``state.0`` ... ``state.5``), and its
``param_groups[*].params`` list those positions in the order the optimizer was given the parameters, which for
``optimizer(model.parameters())`` is the model's parameter order. The mapping is made only when it is
certain enough to show: as many positions as the model has parameter rows, and every non-scalar state tensor
shaped like its parameter; or, better, when ``param_groups`` carry ``param_names`` (an optimizer given named
parameters) and they name the model's parameters. Otherwise the raw index stays the only name (it always stays
visible).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from inspector.core.checkpoint.model import Checkpoint, TensorEntry

_STATE_NAME = re.compile(r"^(?P<prefix>(?:.+\.)?)state\.(?P<index>\d+)\.(?P<leaf>[^.]+)$")


def map_optimizer_state(ckpt: Checkpoint) -> int:
    """Set ``state_of`` on every optimizer-state entry that maps to a model parameter; returns how many."""
    params = [e for e in ckpt.model_entries() if e.kind == "parameter"]
    if not params or ckpt.model_group is None:
        return 0
    by_optimizer: dict[tuple[str, str], list[tuple[int, TensorEntry]]] = {}
    for entry in ckpt.entries:
        found = _STATE_NAME.match(entry.name) if entry.group != ckpt.model_group else None
        if found:
            by_optimizer.setdefault((entry.group, found["prefix"]), []).append((int(found["index"]), entry))
    mapped = 0
    for (group, prefix), states in by_optimizer.items():
        optimizer = _optimizer_dict(ckpt.raw, group, prefix)
        positions = _param_positions(optimizer)
        owner = _owners_by_name(optimizer, positions, params)
        if owner is None:
            if positions is None or len(positions) != len(params):
                continue
            owner = {position: params[i] for i, position in enumerate(positions)}
        if any(index not in owner or not _fits(entry, owner[index]) for index, entry in states):
            continue
        for index, entry in states:
            entry.state_of = owner[index].canonical_name
            mapped += 1
    return mapped


def _owners_by_name(optimizer: Any, positions: list[int] | None, params: list[TensorEntry]):
    """position -> parameter from ``param_groups[*].param_names`` (torch >= 2.6 saves them when the optimizer
    was given named parameters, as ``finetune`` does: its optimizer holds only the trainable ones, so the
    order-based guess cannot work); None when the names are absent or do not all name a parameter."""
    if positions is None:
        return None
    names: list[str] = []
    for param_group in optimizer["param_groups"]:
        group_names = param_group.get("param_names")
        if not isinstance(group_names, list | tuple) or not all(isinstance(n, str) for n in group_names):
            return None
        names.extend(group_names)
    by_name = {p.canonical_name: p for p in params} | {p.name: p for p in params}
    if len(names) != len(positions) or not all(n in by_name for n in names):
        return None
    return {position: by_name[n] for position, n in zip(positions, names, strict=True)}


def _fits(state: TensorEntry, param: TensorEntry) -> bool:
    """A scalar (``step``) fits any parameter; moments and the like have the parameter's shape."""
    return not state.shape or state.shape == param.shape


def _optimizer_dict(raw: Any, group: str, prefix: str) -> Any:
    """The optimizer state dict at ``group`` / dotted ``prefix`` in the loaded object (lists by index)."""
    node = raw.get(group) if isinstance(raw, Mapping) and group else raw
    for part in [p for p in prefix.split(".") if p]:
        if isinstance(node, Mapping):
            node = node.get(part, node.get(int(part)) if part.isdigit() else None)
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _param_positions(optimizer: Any) -> list[int] | None:
    """``param_groups[*].params`` in order, when they are plain distinct integers."""
    if not isinstance(optimizer, Mapping) or not isinstance(optimizer.get("param_groups"), list | tuple):
        return None
    positions: list[int] = []
    for param_group in optimizer["param_groups"]:
        ids = param_group.get("params") if isinstance(param_group, Mapping) else None
        if not isinstance(ids, list | tuple) or not all(isinstance(i, int) for i in ids):
            return None
        positions.extend(ids)
    return positions if len(set(positions)) == len(positions) else None
