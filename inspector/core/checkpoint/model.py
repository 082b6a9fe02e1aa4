"""What an opened file holds: its tensor entries, metadata and (when known) module tree.

``Checkpoint`` is the one object every view and verb works from. It is built by
:func:`inspector.core.checkpoint.loader.load_checkpoint` and never runs code from the file. Tensors stay where the loader
left them (memory-mapped for zip checkpoints, lazily read for safetensors) until a view asks for one through
:meth:`Checkpoint.tensor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FORMATS = (
    "state_dict",  # a flat mapping name -> tensor (also with module./model. prefixes)
    "training_checkpoint",  # a dict holding a state dict beside optimizer state, epoch, loss...
    "lightning",  # a PyTorch Lightning .ckpt
    "nested_dict",  # dicts of tensors inside dicts, no single model state dict
    "pickled_module",  # torch.save(model): a whole nn.Module
    "torchscript",  # torch.jit.save archive
    "safetensors",  # a .safetensors file
    "tensor",  # a single tensor
    "other",  # anything else that holds tensors (lists, tuples, objects)
)


@dataclass
class TensorEntry:
    """One tensor of the file, as the browser lists it.

    ``name`` is the key as stored inside its ``group`` (``conv1.weight``); ``group`` is the sub-dict path it came
    from (``model_state_dict``; empty for a plain state dict). ``module``/``attr`` split the name after the
    loader's prefix handling (``module.``, ``model.``), so ``module.conv1.weight`` gives ``conv1`` / ``weight``.
    """

    name: str
    group: str
    shape: tuple[int, ...]
    dtype: str
    numel: int
    nbytes: int
    kind: str  # "parameter" | "buffer" | "attribute" (a module's plain tensor attribute) | "tensor" | "numpy"
    requires_grad: bool
    module: str = ""
    attr: str = ""
    device: str = "cpu"
    quantized: bool = False

    @property
    def key(self) -> str:
        """Unique id within the file: ``group/name`` (just ``name`` when there is no group)."""
        return f"{self.group}/{self.name}" if self.group else self.name

    @property
    def canonical_name(self) -> str:
        """The name after prefix handling (``module.conv1.weight`` -> ``conv1.weight``)."""
        return f"{self.module}.{self.attr}" if self.module else self.attr

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "numel": self.numel,
            "bytes": self.nbytes,
            "kind": self.kind,
            "requires_grad": self.requires_grad,
            "module": self.module,
            "attr": self.attr,
            "device": self.device,
            "quantized": self.quantized,
        }


@dataclass
class Totals:
    """Counts over all entries: parameters (elements), trainable elements, bytes, entries."""

    entries: int
    parameters: int
    trainable: int
    buffers: int
    tensors: int
    bytes: int
    parameters_estimated: bool = False  # no module known: counted from the model's float tensors by name

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked", "position_ids", "anchors")


def _looks_like_parameter(entry: TensorEntry) -> bool:
    return entry.dtype.startswith(("float", "bfloat", "complex")) and entry.attr not in BUFFER_NAMES


@dataclass
class Checkpoint:
    """An opened file: where it came from, what form it had, its tensors and everything else it held."""

    path: str
    format: str
    container: str  # "zip" | "legacy" | "tar" | "pickle" | "torchscript" | "safetensors"
    entries: list[TensorEntry]
    metadata: dict[str, Any] = field(default_factory=dict)
    compression: str | None = None
    trusted: bool = False
    globals_referenced: list[str] = field(default_factory=list)
    stubbed_globals: list[str] = field(
        default_factory=list
    )  # referenced but not imported: what trust imports
    module_classes: dict[str, str] = field(default_factory=dict)  # module path -> class, "" is the root
    architecture: str | None = (
        None  # name of a resolved architecture (see inspector.core.models.architectures)
    )
    model_group: str | None = None  # the group that holds the model's weights, when there is one
    model_prefix: str = ""  # prefix stripped from model names ("module.", "model.")
    warnings: list[str] = field(default_factory=list)
    shared_objects: dict[str, str] = field(default_factory=dict)  # path -> earlier path of the same object
    raw: Any = field(default=None, repr=False)  # the loaded object (stubs where untrusted)
    _tensor_source: Callable[[TensorEntry], Any] | None = field(default=None, repr=False)

    # -- lookups -------------------------------------------------------------------------------------------
    def entry(self, key: str) -> TensorEntry:
        """The entry whose ``key`` (or, failing that, ``name`` or canonical name) is ``key``."""
        for attr in ("key", "name", "canonical_name"):
            for e in self.entries:
                if getattr(e, attr) == key:
                    return e
        from inspector.core.errors import InspectorError

        raise InspectorError(
            f"{self.path}: no tensor named '{key}'; run 'inspector list {self.path}' to see names"
        )

    def tensor(self, entry: TensorEntry | str):
        """The tensor behind ``entry`` (a ``torch.Tensor`` on CPU; may be memory-mapped)."""
        if isinstance(entry, str):
            entry = self.entry(entry)
        if self._tensor_source is None:
            raise RuntimeError("checkpoint has no tensor source")
        return self._tensor_source(entry)

    def class_of(self, group: str, module: str) -> str:
        """The class of the module at ``module`` (a path after prefix handling, ``""`` for the group's root)
        in ``group``, or ``""``. ``module_classes`` is keyed by ``group/full path``, prefix included."""
        prefix = self.model_prefix if group == (self.model_group or "") else ""
        full = f"{prefix}{module}" if module else prefix.rstrip(".")
        key = f"{group}/{full}" if group and full else (group or full)
        return self.module_classes.get(key, "")

    def match_name(self, entry: TensorEntry) -> str:
        """The name used to pair this entry with one of another file (diff, compare).

        The model's own weights match by canonical name whatever group and prefix held them
        (``model_state_dict`` + ``module.conv1.weight`` pairs with a plain ``conv1.weight``); every other
        tensor (optimizer state, extra dicts) matches by ``group/name``.
        """
        if entry.group == (self.model_group or "") and (self.model_group is not None or not entry.group):
            return entry.canonical_name
        return entry.key

    def model_entries(self) -> list[TensorEntry]:
        """Entries of the model's own weights (the model group, or every parameter/buffer)."""
        if self.model_group is not None:
            return [e for e in self.entries if e.group == self.model_group]
        return list(self.entries)

    @property
    def totals(self) -> Totals:
        params = [e for e in self.entries if e.kind == "parameter"]
        estimated = not params and self.model_group is not None
        if estimated:  # a bare state dict: what people call "parameters" is its float weights minus BN stats
            params = [e for e in self.model_entries() if _looks_like_parameter(e)]
        return Totals(
            entries=len(self.entries),
            parameters=sum(e.numel for e in params),
            trainable=sum(e.numel for e in params if e.requires_grad or estimated),
            buffers=sum(1 for e in self.entries if e.kind == "buffer"),
            tensors=sum(1 for e in self.entries if e.kind == "tensor"),
            bytes=sum(e.nbytes for e in self.entries),
            parameters_estimated=estimated,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.format,
            "container": self.container,
            "compression": self.compression,
            "trusted": self.trusted,
            "architecture": self.architecture,
            "model_group": self.model_group,
            "model_prefix": self.model_prefix,
            "entries": [e.to_json() for e in self.entries],
            "totals": self.totals.to_json(),
            "metadata": self.metadata,
            "globals": self.globals_referenced,
            "stubbed_globals": self.stubbed_globals,
            "modules": self.module_classes,
            "warnings": self.warnings,
            "shared_objects": self.shared_objects,
        }
