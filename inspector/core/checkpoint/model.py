"""What an opened file holds: its tensor entries, metadata and (when known) module tree.

``Checkpoint`` is the one object every view and verb works from. It is built by
:func:`inspector.core.checkpoint.loader.load_checkpoint` and never runs code from the file. Tensors stay where the loader
left them (memory-mapped for zip checkpoints, lazily read for safetensors) until a view asks for one through
:meth:`Checkpoint.tensor`.
"""

from __future__ import annotations

import os
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
    kind_estimated: bool = (
        False  # parameter/buffer guessed from name and dtype: no module, no known architecture
    )
    state_of: str = ""  # optimizer state: the canonical name of the parameter it belongs to ("conv1.weight")
    quantization: dict | None = (
        None  # quantized tensors: scheme, scale/zero point (packed_params.quantization_of)
    )
    packed_in: str = ""  # read out of packed parameters: where the file keeps it ("fc._packed_params")
    # where requires_grad came from: "file" (the saved tensor), "inferred" (a state dict: parameters train),
    # "frozen list" (the file's own ``frozen`` names, written by ``inspector finetune``)
    trainable_source: str = "file"

    @property
    def kind_label(self) -> str:
        """The kind as rows show it: ``parameter*`` when it is an estimate (the total line says so)."""
        return f"{self.kind}*" if self.kind_estimated else self.kind

    @property
    def state_label(self) -> str:
        """``exp_avg of conv1.weight`` for optimizer state mapped to its parameter, else ``""``."""
        return f"{self.attr or self.name.rpartition('.')[2]} of {self.state_of}" if self.state_of else ""

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
            "kind_estimated": self.kind_estimated,
            "state_of": self.state_of or None,
            "label": self.state_label or None,
            "quantization": self.quantization,
            "packed_in": self.packed_in or None,
            "trainable_source": self.trainable_source,
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
    parameters_estimated: bool = (
        False  # some rows' kinds are guessed from their names (TensorEntry.kind_estimated)
    )

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


# The rule: a kind is estimated (``*``) when nothing in the file declares it, i.e. a state dict whose weights
# match no known architecture; then every row of the model group is typed by its name and dtype, the weights
# read out of quantized packed parameters too. A pickled module, TorchScript or a recognised architecture
# declares kinds, so none of their rows is marked.
ESTIMATE_NOTE = (
    "* kind estimated from the name and dtype (no module and no known architecture: every row of the "
    "state dict is a guess, packed quantized weights too)"
)


def totals_line(t: Totals) -> str:
    """The one-line total the CLI prints and the status bar shows: the sums of the rows."""
    from inspector.core.formatting import format_bytes, format_count_short, plural

    star = "*" if t.parameters_estimated else ""
    parameters = plural(t.parameters, "parameter", shown=format_count_short(t.parameters))
    line = (
        f"{plural(t.entries, 'tensor')}, {parameters}{star} "
        f"({format_count_short(t.trainable)} trainable), {plural(t.buffers, 'buffer')}{star}, {format_bytes(t.bytes)}"
    )
    return f"{line}; {ESTIMATE_NOTE}" if t.parameters_estimated else line


@dataclass(frozen=True)
class FileIdentity:
    """Which file, of which size and modification time: what :meth:`Checkpoint.check_unchanged` compares."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> FileIdentity | None:
        """``path``'s identity now, or None when it is gone."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


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
    file_identity: FileIdentity | None = field(default=None, repr=False)  # the file as it was when opened
    saved_frozen: tuple[str, ...] | None = (
        None  # a fine-tuned file's ``frozen`` names (kinds.saved_frozen_names)
    )

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
        self.check_unchanged()
        return self._tensor_source(entry)

    def check_unchanged(self) -> None:
        """Refuse to read values from a file that changed or disappeared since it was opened.

        Tensors are memory-mapped views of the file: after it is rewritten in place they would show the new
        bytes under the old listing (silently wrong values), and past a truncation reading them kills the
        process (SIGBUS). A file replaced by a new one (a rename) is refused too: the listing is of the old.
        """
        if self.file_identity is None:
            return
        now = FileIdentity.of(self.path)
        if now != self.file_identity:
            from inspector.core.errors import InspectorError

            gone = " (it is gone)" if now is None else ""
            raise InspectorError(f"{self.path}: changed on disk since it was opened{gone}; reopen it")

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
        """Sums of the rows: what the CLI's total line, the JSON, the status bar and the Metadata tab say."""
        params = [e for e in self.entries if e.kind == "parameter"]
        return Totals(
            entries=len(self.entries),
            parameters=sum(e.numel for e in params),
            trainable=sum(e.numel for e in params if e.requires_grad),
            buffers=sum(1 for e in self.entries if e.kind == "buffer"),
            tensors=sum(1 for e in self.entries if e.kind not in ("parameter", "buffer")),
            bytes=sum(e.nbytes for e in self.entries),
            parameters_estimated=any(e.kind_estimated for e in self.entries),
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
