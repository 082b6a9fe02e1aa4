"""Everything in a checkpoint that is not a tensor, as JSON-safe values, plus what can be read off it.

Top-level non-tensor values keep their key (``metadata["epoch"]``); groups that hold tensors keep their
non-tensor skeleton (an optimizer's ``param_groups``). Derived facts are added under their own keys:
``optimizer`` (class guessed from the state's buffers and param-group keys, learning rate, groups) and
``hyper_parameters`` (Lightning's, or the ``hparams``/``config``/``args`` a script saved).
"""

from __future__ import annotations

import collections
import datetime
import decimal
import fractions
import math
import pathlib
from collections.abc import Mapping
from typing import Any

from inspector.core.checkpoint.listing import (
    find_model_group,
    holds_tensors,
    is_module,
    is_state_dict,
    is_tensor,
    printable,
)
from inspector.core.checkpoint.stubs import Stub

SCALAR_LIKE = (
    complex,
    decimal.Decimal,
    fractions.Fraction,
    datetime.date,
    datetime.time,
    datetime.timedelta,
    datetime.tzinfo,
    pathlib.PurePath,
)
MAX_ITEMS = 64
MAX_DEPTH = 8
MAX_STR = 2000
OPTIMIZER_KEYS = ("optimizer_state_dict", "optimizer", "optim", "optimizer_state", "opt_state")
HPARAM_KEYS = ("hyper_parameters", "hparams", "hyperparameters", "config", "cfg", "args", "opt", "params")

# state-buffer names and param-group keys -> optimizer class (first match wins)
OPTIMIZER_SIGNATURES = (
    ("Adadelta", {"acc_delta"}, set()),
    ("Adagrad", {"sum"}, {"lr_decay"}),
    ("RMSprop", {"square_avg"}, {"alpha"}),
    ("AdamW", {"exp_avg"}, {"betas", "decoupled_weight_decay_true"}),
    ("Adam", {"exp_avg", "exp_avg_sq"}, {"betas"}),
    ("Adamax", {"exp_inf"}, set()),
    ("NAdam", {"mu_product"}, set()),
    ("RAdam", {"exp_avg"}, {"decoupled_weight_decay"}),
    ("SGD", {"momentum_buffer"}, {"momentum"}),
    ("SGD", set(), {"momentum", "dampening", "nesterov"}),
    ("Adam", set(), {"betas"}),
)


MAX_NODES = 20_000  # values rendered per call: shared sub-objects are rendered again, so a DAG stays bounded


class _NodeBudget:
    def __init__(self):
        self.left = MAX_NODES


def to_jsonable(value: Any, depth: int = 0, budget: _NodeBudget | None = None) -> Any:
    """A JSON-safe, bounded rendering of any unpickled value (stubs show their class and state)."""
    import numpy as np
    import torch

    budget = budget or _NodeBudget()
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return (
            value
            if value.bit_length() <= 256
            else f"<int of about {int(value.bit_length() * 0.30103)} digits>"
        )
    if isinstance(value, str):
        return printable(value[:MAX_STR])
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    budget.left -= 1
    if depth >= MAX_DEPTH or budget.left < 0:
        return f"<{type(value).__name__}>"
    if isinstance(value, torch.Tensor | np.ndarray):
        if isinstance(value, np.ndarray):
            scalar = value.size == 1 and value.dtype != object
        else:
            scalar = value.numel() == 1 and not value.is_quantized and value.device.type != "meta"
        if scalar:
            return to_jsonable(value.reshape(-1)[0].item(), depth, budget)
        return f"<tensor {str(value.dtype).removeprefix('torch.')} {list(value.shape)}>"
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), depth, budget)
    if isinstance(value, torch.dtype | torch.device | torch.Size):
        return list(value) if isinstance(value, torch.Size) else str(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["..."] = f"{len(value) - MAX_ITEMS} more"
                break
            out[printable(str(k))] = to_jsonable(v, depth + 1, budget)
        return out
    if isinstance(value, list | tuple | set | frozenset | collections.deque):
        items = list(value)
        rendered = [to_jsonable(v, depth + 1, budget) for v in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            rendered.append(f"... {len(items) - MAX_ITEMS} more")
        return rendered
    if (
        isinstance(value, Stub)
        and value.stub_name.endswith("Path")
        and all(isinstance(a, str) for a in value.stub_args)
    ):
        return "/".join(value.stub_args).replace("//", "/")  # pathlib paths pickle as their parts
    if isinstance(value, Stub):
        state = value.state_dict_like
        out: dict[str, Any] = {"__class__": value.stub_name}
        if value.stub_args:
            out["args"] = to_jsonable(list(value.stub_args), depth + 1, budget)
        if state:
            out.update(
                {str(k): to_jsonable(v, depth + 1, budget) for k, v in list(state.items())[:MAX_ITEMS]}
            )
        elif value.stub_state is not None:
            out["state"] = to_jsonable(value.stub_state, depth + 1, budget)
        if value.stub_items:
            out["items"] = to_jsonable(value.stub_items, depth + 1, budget)
        return out
    if isinstance(value, type) and issubclass(value, Stub):
        return f"<class {value.stub_name}>"
    if is_module(value):
        return f"<module {type(value).__name__}>"
    if isinstance(value, SCALAR_LIKE):
        return str(value)[:MAX_STR]
    return f"<{type(value).__name__}>"  # never str() of an unknown container: its repr can be 2**30 long


def skeleton(value: Any, depth: int = 0, budget: _NodeBudget | None = None) -> Any:
    """``value`` with tensors removed: what is left of a group once its entries are listed (None if empty)."""
    budget = budget or _NodeBudget()
    budget.left -= 1
    if is_tensor(value) or is_module(value) or depth > MAX_DEPTH or budget.left < 0:
        return None
    if isinstance(value, Mapping):
        kept = {}
        for k, v in value.items():
            s = skeleton(v, depth + 1, budget)
            if not _is_empty(s):
                kept[str(k)] = s
        return kept
    if isinstance(value, list | tuple):
        if holds_tensors(value):
            kept = [s for s in (skeleton(v, depth + 1, budget) for v in value) if not _is_empty(s)]
            return kept
        return to_jsonable(value, depth, budget)
    if isinstance(value, Stub) and holds_tensors(value):
        return {"__class__": value.stub_name}
    return to_jsonable(value, depth, budget)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, dict | list) and not value)


def optimizer_info(opt_state: Any) -> dict[str, Any] | None:
    """Class (guessed), learning rate and param groups of an optimizer ``state_dict`` (or a stubbed one)."""
    if isinstance(opt_state, Stub):
        cls = opt_state.stub_name
        state = opt_state.state_dict_like or {}
        info = optimizer_info(
            {"state": state.get("state", {}), "param_groups": state.get("param_groups", [])}
        )
        return {**(info or {}), "class": cls.rpartition(".")[2], "qualified_class": cls}
    if not isinstance(opt_state, Mapping) or "param_groups" not in opt_state:
        return None
    groups = [g for g in opt_state.get("param_groups") or [] if isinstance(g, Mapping)]
    state = opt_state.get("state") or {}
    buffers: set[str] = set()
    for per_param in list(state.values())[:4] if isinstance(state, Mapping) else []:
        if isinstance(per_param, Mapping):
            buffers |= {str(k) for k in per_param}
    group_keys = {str(k) for g in groups for k in g}
    if any(g.get("decoupled_weight_decay") for g in groups):
        group_keys.add("decoupled_weight_decay_true")
    guess = next(
        (name for name, need_buf, need_keys in OPTIMIZER_SIGNATURES
         if (need_buf or need_keys) and need_buf <= buffers and need_keys <= group_keys),
        None,
    )  # fmt: skip
    info: dict[str, Any] = {"class": guess or "unknown", "param_groups": len(groups)}
    if groups:
        info["lr"] = to_jsonable(groups[0].get("lr"))
        info["params"] = sum(len(g.get("params") or []) for g in groups)
        info["hyper_parameters"] = [
            {k: to_jsonable(v) for k, v in g.items() if k != "params"} for g in groups[:MAX_ITEMS]
        ]
    return info


def extract_metadata(obj: Any) -> dict[str, Any]:
    """The non-tensor content of a loaded object plus the derived ``optimizer``/``hyper_parameters``."""
    if is_tensor(obj) or is_state_dict(obj) or is_module(obj):
        return {}
    if isinstance(obj, Stub):
        obj = obj.state_dict_like or {}
    if not isinstance(obj, Mapping):
        return {}
    meta: dict[str, Any] = {}
    model_group = find_model_group(obj)
    optimizer_key = None
    for key in OPTIMIZER_KEYS:
        info = optimizer_info(obj.get(key))
        if info:
            meta["optimizer"] = {**info, "source": key}
            optimizer_key = key
            break
    if (
        "optimizer" not in meta
        and isinstance(obj.get("optimizer_states"), list | tuple)
        and obj["optimizer_states"]
    ):
        info = optimizer_info(obj["optimizer_states"][0])
        if info:
            meta["optimizer"] = {**info, "source": "optimizer_states[0]"}
            optimizer_key = "optimizer_states"
    for key, value in obj.items():
        key = str(key)
        if key in (model_group, optimizer_key) or key in meta:
            continue
        rendered = skeleton(value)
        if not _is_empty(rendered):
            meta[key] = rendered
    if "hyper_parameters" not in meta:
        for key in HPARAM_KEYS:
            if key in meta and isinstance(meta[key], Mapping):
                meta["hyper_parameters"] = meta[key]
                break
    return meta
