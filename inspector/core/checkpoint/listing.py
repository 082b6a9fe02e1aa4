"""Turn a loaded object (tensors, containers, stubs or a real module) into tensor entries.

Rules, in the order they apply:

- A whole ``nn.Module`` (real when trusted, a stub otherwise): its parameters and buffers, named as in its
  ``state_dict``, with the class of every submodule.
- A flat mapping of tensors is a state dict; its entries have group ``""`` when it is the whole file.
- A dict holding other things is a container: each top-level key that holds tensors becomes a group
  (``model_state_dict``, ``optimizer_state_dict``...), named inside by its key path joined with dots; the rest
  becomes metadata (see ``inspector.core.checkpoint.metadata``).
- The model group is the one under a well-known key (``state_dict``, ``model_state_dict``, ``model``...), and
  its names lose a prefix every key shares (``module.`` from DataParallel, ``model.`` from Lightning,
  ``_orig_mod.`` from ``torch.compile``): that gives each entry its ``module`` and ``attr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inspector.core.checkpoint import packed_params
from inspector.core.checkpoint.model import TensorEntry
from inspector.core.checkpoint.stubs import Stub, stub_module_state
from inspector.core.limits import Limits

MODEL_KEYS = (
    "state_dict", "model_state_dict", "model", "net", "network", "module", "model_state", "state_dict_ema",
    "ema", "model_ema", "ema_model", "weights", "params", "params_ema", "generator", "student", "backbone",
)  # fmt: skip
STRIPPABLE_PREFIXES = ("module.", "model.", "_orig_mod.")
LIGHTNING_KEYS = ("pytorch-lightning_version", "optimizer_states", "lr_schedulers", "callbacks", "loops")


@dataclass
class Listing:
    """What the walk found: entries with their tensors, module classes and the non-tensor remainder."""

    format: str
    entries: list[TensorEntry] = field(default_factory=list)
    tensors: dict[str, Any] = field(default_factory=dict)  # entry key -> tensor / ndarray
    module_classes: dict[str, str] = field(default_factory=dict)
    model_group: str | None = None
    model_prefix: str = ""
    shared: dict[str, str] = field(default_factory=dict)  # path -> path of the same object listed first
    truncated: bool = False  # stopped at the entry or node budget


# -- what things are ----------------------------------------------------------------------------------------
def is_tensor(obj: Any) -> bool:
    import numpy as np
    import torch

    return isinstance(obj, torch.Tensor) or (isinstance(obj, np.ndarray) and obj.dtype != object)


def is_real_module(obj: Any) -> bool:
    import torch

    return isinstance(obj, torch.nn.Module)


def is_module(obj: Any) -> bool:
    return is_real_module(obj) or stub_module_state(obj) is not None


def is_state_dict(obj: Any) -> bool:
    """A mapping whose values are all tensors (``None`` allowed) and that holds at least one; a quantized
    model's state dict also holds ``*._packed_params._packed_params`` (weight, bias) and ``*.dtype`` values."""
    if not isinstance(obj, Mapping) or not obj:
        return False
    values = [(k, v) for k, v in obj.items() if v is not None]
    return any(is_tensor(v) for _, v in values) and all(
        is_tensor(v) or _is_packed_state_item(k, v) for k, v in values
    )


def _is_packed_state_item(key: Any, value: Any) -> bool:
    import torch

    if isinstance(key, str) and key.endswith(f"{packed_params.PACKED_KEY}.dtype"):
        return isinstance(value, torch.dtype)
    return packed_state_weights(key, value) is not None


def packed_state_weights(key: Any, value: Any) -> tuple[str, str, dict[str, Any]] | None:
    """``(names' prefix, where, {"weight": ..., ...})`` for packed parameters in a state dict: a quantized
    Linear's ``fc._packed_params._packed_params`` (listed as ``fc.weight``), an Embedding's
    ``emb._packed_params._packed_weight`` (``emb.weight``), a dynamic LSTM cell's ``..._all_weight_values.0.param``
    (``..._all_weight_values.0.weight_ih``), or packed parameters that an FX graph keeps as an attribute,
    ``_packed_weight_0`` (a ScriptObject: ``_packed_weight_0.weight``)."""
    if not isinstance(key, str):
        return None
    for suffix in (packed_params.STATE_DICT_SUFFIX, packed_params.EMBEDDING_SUFFIX):
        if key.endswith(suffix):
            found = packed_params.unpack_named(value, linear=suffix == packed_params.STATE_DICT_SUFFIX)
            if found is None and suffix == packed_params.EMBEDDING_SUFFIX and is_tensor(value):
                found = {"weight": value} if getattr(value, "is_quantized", False) else None
            return (key[: -len(suffix)], key, found) if found else None
    if isinstance(value, Stub) or packed_params.is_script_object(value):
        found = packed_params.unpack_named(value)
        cell = key == packed_params.CELL_KEY or key.endswith("." + packed_params.CELL_KEY)
        names = key[: -len(packed_params.CELL_KEY)] if cell and found else f"{key}."
        return (names, key, found) if found else None
    return None


def holds_tensors(obj: Any, depth: int = 0, memo: dict[int, bool] | None = None) -> bool:
    """Whether ``obj`` holds a tensor within 12 levels; memoised by ``id``, so shared objects cost once."""
    memo = {} if memo is None else memo
    if depth > 12:
        return False
    if is_tensor(obj) or is_module(obj):
        return True
    if not isinstance(obj, Mapping | list | tuple | Stub):
        return False
    if id(obj) in memo:
        return memo[id(obj)]
    memo[id(obj)] = False  # while in progress: a cycle adds nothing
    if isinstance(obj, Mapping):
        children = obj.values()
    elif isinstance(obj, list | tuple):
        children = obj[:10_000]
    else:
        children = [_stub_contents(obj)]
    found = any(holds_tensors(v, depth + 1, memo) for v in children)
    memo[id(obj)] = found
    return found


def _stub_contents(stub: Stub) -> Any:
    """What a non-module stub holds: its items, list, state or constructor arguments."""
    if stub.stub_items:
        return stub.stub_items
    if stub.stub_list:
        return stub.stub_list
    state = stub.state_dict_like
    if state is not None:
        return state
    return list(stub.stub_args)


# -- tensor facts -------------------------------------------------------------------------------------------
def make_entry(
    name: str, group: str, tensor: Any, kind: str, device: str = "cpu", packed_in: str = ""
) -> TensorEntry:
    import torch

    if isinstance(tensor, torch.Tensor):
        dtype = str(tensor.dtype).removeprefix("torch.")
        numel = tensor.numel()
        nbytes = numel * tensor.element_size()
        requires_grad = bool(tensor.requires_grad)
        quantized = bool(tensor.is_quantized)
        shape = tuple(int(s) for s in tensor.shape)
    else:  # numpy
        dtype = str(tensor.dtype)
        numel = int(tensor.size)
        nbytes = int(tensor.nbytes)
        requires_grad = False
        quantized = False
        shape = tuple(int(s) for s in tensor.shape)
    return TensorEntry(
        name=name,
        group=group,
        shape=shape,
        dtype=dtype,
        numel=numel,
        nbytes=nbytes,
        kind=kind,
        requires_grad=requires_grad,
        device=device,
        quantized=quantized,
        quantization=packed_params.quantization_of(tensor) if quantized else None,
        packed_in=packed_in,
    )


# -- walking ------------------------------------------------------------------------------------------------
ATTRIBUTE_SKIP = frozenset({"_parameters", "_buffers", "_modules", "training", "_non_persistent_buffers_set"})
ATTRIBUTE_DEPTH = 3  # lists of lists of tensors; deeper containers are not a module's own tensors
ATTRIBUTE_ITEMS = 1000  # items listed per attribute container


class _Walker:
    """Walks the loaded object graph once per object: containers and modules met again (shared, or holding
    themselves) are recorded in ``listing.shared`` instead of being walked again, and the walk stops at the
    entry and node budgets of ``limits``."""

    def __init__(self, devices: dict[int, str], limits: Limits):
        self.listing = Listing(format="other")
        self.devices = devices
        self.limits = limits
        self.seen: dict[int, str] = {}  # id -> the path it was first listed under
        self.tensor_keys: dict[int, str] = {}  # id of each tensor listed -> its entry key
        self.nodes = 0

    def add(self, name: str, group: str, tensor: Any, kind: str, packed_in: str = "") -> None:
        if len(self.listing.entries) >= self.limits.max_entries:
            self.listing.truncated = True
            return
        if kind == "tensor" and not _is_torch_tensor(tensor):
            kind = "numpy"
        device = self._device_of(tensor)
        entry = make_entry(printable(name), printable(group), tensor, kind, device, printable(packed_in))
        self.tensor_keys.setdefault(id(tensor), entry.key)
        self.listing.entries.append(entry)
        self.listing.tensors[entry.key] = tensor

    def add_packed(
        self, prefix: str, group: str, where: str, named: dict[str, Any], kind: str = "parameter"
    ) -> None:
        """A quantized module's packed tensors as its parameters (``weight``, ``bias``; an RNN cell's
        ``weight_ih``...); ``where`` is the place in the file they were read from.

        ``kind="tensor"`` where no module declares them (a state dict): they are then typed like every other
        row of the state dict, by ``kinds.estimate_model_kinds`` (marked estimated) or a known architecture,
        so a quantized state dict's packed Linear weights and its plain conv weights carry the same mark."""
        for attr, tensor in named.items():
            self.add(prefix + attr, group, tensor, kind, packed_in=where)

    def add_output_qparams(self, prefix: str, group: str, qparams: dict[str, Any]) -> None:
        """A quantized module's output ``scale``/``zero_point``, kept as Python numbers in a pickled module or
        TorchScript archive, as the 0-dim buffers its state dict has (``packed_params.output_qparams``)."""
        for attr, tensor in qparams.items():
            self.add(prefix + attr, group, tensor, "buffer")

    def _device_of(self, tensor: Any) -> str:
        import torch

        if not self.devices or not isinstance(tensor, torch.Tensor) or tensor.is_quantized:
            return "cpu"
        try:
            return self.devices.get(tensor.untyped_storage().data_ptr(), "cpu")
        except (RuntimeError, NotImplementedError):
            return "cpu"

    def first_visit(self, obj: Any, path: str) -> bool:
        """True the first time ``obj`` is met; later, records ``path`` as sharing the first one."""
        self.nodes += 1
        if self.nodes > self.limits.max_walk_nodes:
            self.listing.truncated = True
            return False
        first = self.seen.setdefault(id(obj), path)
        if first != path:
            self.listing.shared[printable(path)] = printable(first)
            return False
        return True

    # a module, real or stubbed, named like its state_dict
    def module(self, obj: Any, group: str, prefix: str = "", depth: int = 0) -> None:
        classes = self.listing.module_classes
        path = prefix.rstrip(".")
        key = f"{group}/{path}" if group and path else (group if group and not path else path)
        if not self.first_visit(obj, key or "<root>"):
            return
        if is_real_module(obj):
            self._real_module(obj, group, prefix, path)
            return
        state = stub_module_state(obj)
        classes[printable(key)] = obj.stub_name
        non_persistent = state.get("_non_persistent_buffers_set") or set()
        for name, value in _items(state.get("_parameters")):
            if value is not None and is_tensor(value):
                self.add(prefix + str(name), group, value, "parameter")
        for name, value in _items(state.get("_buffers")):
            if value is not None and is_tensor(value) and name not in non_persistent:
                self.add(prefix + str(name), group, value, "buffer")
        packed = packed_params.module_packed(state)
        qparams = packed_params.output_qparams(state, obj.stub_name, packed is not None) or {}
        # the state dict's order: a Linear writes scale, zero_point before its _packed_params submodule's
        # weight and bias, a conv writes weight, bias, scale, zero_point
        linear_order = packed is not None and packed[0] not in state
        if linear_order:
            self.add_output_qparams(prefix, group, qparams)
        if packed is not None:
            self.add_packed(prefix, group, prefix + packed[0], packed[1])
        if not linear_order:
            self.add_output_qparams(prefix, group, qparams)
        if depth < 64:
            for name, sub in _items(state.get("_modules")):
                if packed is not None and name == packed_params.PACKED_KEY:
                    continue  # its weight and bias are listed above, under this module
                if sub is not None and is_module(sub):
                    self.module(sub, group, f"{prefix}{name}.", depth + 1)
        # after the submodules: an attribute that aliases one of their parameters is known to be one
        self.attributes(state, group, prefix, skip={packed[0]} if packed else ())

    def _real_module(self, obj: Any, group: str, prefix: str, path: str) -> None:
        classes = self.listing.module_classes
        key = f"{group}/{path}" if group and path else (group if group and not path else path)
        classes[key] = f"{type(obj).__module__}.{type(obj).__qualname__}"
        params = dict(obj.named_parameters(prefix=path, remove_duplicate=False))
        for name, value in obj.state_dict(prefix=prefix, keep_vars=True).items():
            packed = packed_state_weights(name, value)
            if packed is not None:
                self.add_packed(*packed[:1], group, *packed[1:])
            elif value is not None and is_tensor(value):
                self.add(name, group, value, "parameter" if name in params else "buffer")
        for sub_name, sub in obj.named_modules(prefix=path):
            sub_prefix = f"{sub_name}." if sub_name else ""
            self.attributes(vars(sub), group, sub_prefix)
            if sub_name != path:
                sub_key = f"{group}/{sub_name}" if group else sub_name
                classes[sub_key] = f"{type(sub).__module__}.{type(sub).__qualname__}"

    def attributes(self, state: Mapping, group: str, prefix: str, skip=()) -> None:
        """Tensors a module keeps as plain attributes (a YOLO head's ``stride``, ``anchor_grid`` list, a
        model's ``class_weights``): kind ``attribute``, listed under their module; inside lists, tuples and
        dicts by index or key (``anchor_grid.0``), a few levels deep. Hook dicts are skipped, and a tensor
        already listed (an attribute that aliases a parameter) is recorded in ``shared`` instead."""
        for name, value in _items(state):
            if not isinstance(name, str) or name in ATTRIBUTE_SKIP or name in skip or name.startswith("__"):
                continue
            if name.startswith("_") and "hook" in name:
                continue
            if isinstance(value, Stub) and (found := packed_params.unpack_named(value)):
                self.add_packed(f"{prefix}{name}.", group, prefix + name, found)  # FX's _packed_weight_0
            else:
                self.attribute_value(prefix + name, group, value)

    def attribute_value(self, name: str, group: str, value: Any, depth: int = 0) -> None:
        if is_tensor(value):
            first = self.tensor_keys.get(id(value))
            if first is None:
                self.add(name, group, value, "attribute")
            else:
                self.listing.shared[printable(f"{group}/{name}" if group else name)] = first
        elif depth < ATTRIBUTE_DEPTH and isinstance(value, list | tuple | Mapping) and value:
            if not self.first_visit(value, f"{group}/{name}" if group else name):
                return
            items = value.items() if isinstance(value, Mapping) else enumerate(value)
            for i, (key, item) in enumerate(items):
                if i >= ATTRIBUTE_ITEMS:
                    break
                self.attribute_value(f"{name}.{key}", group, item, depth + 1)

    # any container: dotted key paths inside a group
    def container(self, obj: Any, group: str, prefix: str = "", depth: int = 0) -> None:
        if depth > 12:
            return
        if is_tensor(obj):
            self.add(prefix.rstrip(".") or group or "tensor", group, obj, "tensor")
        elif is_module(obj):
            self.module(obj, group, prefix, depth)
        elif isinstance(obj, Mapping | list | tuple | Stub):
            path = f"{group}/{prefix.rstrip('.')}" if group else prefix.rstrip(".")
            if not self.first_visit(obj, path or "<root>"):
                return
            if isinstance(obj, Mapping):
                for k, v in obj.items():
                    packed = packed_state_weights(k, v)
                    if packed is not None:
                        names, where, weight_bias = packed
                        self.add_packed(prefix + names, group, prefix + where, weight_bias, "tensor")
                    else:
                        self.container(v, group, f"{prefix}{k}.", depth + 1)
            elif isinstance(obj, list | tuple):
                for i, v in enumerate(obj):
                    self.container(v, group, f"{prefix}{i}.", depth + 1)
            else:
                self.container(_stub_contents(obj), group, prefix, depth + 1)


def _items(value: Any):
    """(key, value) pairs of a mapping (a stub's recorded items too), else nothing."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, Stub):
        return list(value.stub_items.items())
    return []


def _is_torch_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


def printable(text: str) -> str:
    """Names as UTF-8 can carry them: a lone surrogate (from a hostile or Python 2 key) shows as ``\\udxxx``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def list_object(obj: Any, devices: dict[int, str] | None = None, limits: Limits | None = None) -> Listing:
    """Walk ``obj`` (what a loader returned) into a :class:`Listing` (see module docstring)."""
    walker = _Walker(devices or {}, limits or Limits.from_env())
    listing = walker.listing
    if is_module(obj):
        listing.format = "pickled_module"
        walker.module(obj, "")
        listing.model_group = ""
    elif is_tensor(obj):
        listing.format = "tensor"
        walker.add("tensor", "", obj, "tensor")
    elif is_state_dict(obj):
        listing.format = "state_dict"
        walker.container(obj, "")
        listing.model_group = ""
    elif isinstance(obj, Mapping | Stub):
        items = obj if isinstance(obj, Mapping) else _stub_contents(obj)
        if not isinstance(items, Mapping):
            items = {str(i): v for i, v in enumerate(items)} if isinstance(items, list | tuple) else {}
        _list_container(walker, items)
    elif isinstance(obj, list | tuple):
        listing.format = "other"
        _list_container(walker, {str(i): v for i, v in enumerate(obj)})
    canonicalize(listing)
    return listing


def _list_container(walker: _Walker, items: Mapping) -> None:
    listing = walker.listing
    memo: dict[int, bool] = {}
    for key, value in items.items():
        key = str(key)
        if is_tensor(value):
            walker.add(key, "", value, "tensor")
        elif holds_tensors(value, memo=memo):
            walker.container(value, key)
    listing.model_group = find_model_group(items)
    keys = set(map(str, items))
    if any(k in keys for k in LIGHTNING_KEYS) and "state_dict" in keys:
        listing.format = "lightning"
    elif listing.model_group is not None:
        listing.format = "training_checkpoint"
    elif listing.entries:
        listing.format = "nested_dict"
    else:
        listing.format = "other"


def find_model_group(items: Mapping) -> str | None:
    """The top-level key that holds the model's weights, by well-known name, when it holds a model."""
    for key in MODEL_KEYS:
        value = items.get(key)
        if value is not None and (is_module(value) or is_state_dict(value)):
            return key
    candidates = [str(k) for k, v in items.items() if is_module(v)]
    return candidates[0] if len(candidates) == 1 else None


def common_prefix(names: list[str]) -> str:
    """The prefix (from STRIPPABLE_PREFIXES, repeated) that every name shares, e.g. ``module.``."""
    prefix = ""
    while names:
        for candidate in STRIPPABLE_PREFIXES:
            if all(n.startswith(prefix + candidate) for n in names) and any(
                len(n) > len(prefix + candidate) for n in names
            ):
                prefix += candidate
                break
        else:
            break
    return prefix


def canonicalize(listing: Listing) -> None:
    """Fill every entry's ``module``/``attr`` after stripping the model group's shared prefix."""
    groups: dict[str, list[TensorEntry]] = {}
    for e in listing.entries:
        groups.setdefault(e.group, []).append(e)
    for group, entries in groups.items():
        prefix = common_prefix([e.name for e in entries]) if group == (listing.model_group or "") else ""
        if group == (listing.model_group or ""):
            listing.model_prefix = prefix
        for e in entries:
            e.module, _, e.attr = e.name[len(prefix) :].rpartition(".")
