"""Open any PyTorch checkpoint without running code from it: the one entry point from a file to a Checkpoint.

The steps, each a stage of the :func:`iter_load_checkpoint` job:

1. **Sniff** the bytes (``inspector.core.checkpoint.sniff``); unwrap gzip/bz2/xz and single-file zip/tar wrappers.
2. **Read** with our own readers, never ``torch.load`` on untrusted bytes (``torch_readers``): torch zip files
   (memory-mapped, so listing a multi-GB file reads only its pickle), legacy pre-1.6 files and pre-0.4 tars.
   Every pickle is scanned statically first (``pickle_scan``) and then unpickled by ``safe_unpickle``:
   allowlisted rebuilders check shapes against storages, every other global becomes an inert stub, files
   naming dangerous globals are refused before anything is built. Every size the file decides is budgeted
   (``inspector.core.limits``). With ``trust=True`` and classes to import, ``torch.load(weights_only=False)``
   then gives the real objects, which running a pickled model needs.
   - TorchScript: listed from the archive's pickle (``torchscript``); ``torch.jit.load`` only on trust.
   - safetensors: header only (``safetensors_reader``).
   - plain pickles (not written by ``torch.save``): the same scan and unpickler.
3. **List** entries and metadata (``inspector.core.checkpoint.listing``, ``inspector.core.checkpoint.metadata``), then try to name
   the architecture (``inspector.core.models.architectures``), which decides parameter/buffer kinds for state dicts.

Every expected failure is an :class:`InspectorError` whose one-line message names the file and the fix.
"""

from __future__ import annotations

import io
import logging
import os
import re
import warnings
from typing import Any

from inspector.core.checkpoint.byte_source import ByteSource
from inspector.core.checkpoint.kinds import (
    apply_saved_frozen,
    estimate_model_kinds,
    mark_quantized_layers,
    saved_frozen_names,
)
from inspector.core.checkpoint.model import Checkpoint, FileIdentity
from inspector.core.checkpoint.optimizer_state import map_optimizer_state
from inspector.core.checkpoint.read_context import ReadContext, corrupt_error, reason_of
from inspector.core.checkpoint.safe_unpickle import GlobalsRecord
from inspector.core.checkpoint.sniff import Sniffed, sniff_source
from inspector.core.checkpoint.torch_readers import read_torch
from inspector.core.checkpoint.wrappers import decompress, unwrap_archive
from inspector.core.errors import Fix, InspectorError, InspectorWarning
from inspector.core.jobs import Job, Progress, run_job

STAGES = 5
log = logging.getLogger(__name__)
MAX_UNWRAP = 3


def load_checkpoint(path, trust: bool = False, resolve: bool = True) -> Checkpoint:
    """:func:`iter_load_checkpoint` driven to the end on this thread."""
    return run_job(iter_load_checkpoint(path, trust, resolve))


def iter_load_checkpoint(path, trust: bool = False, resolve: bool = True) -> Job[Checkpoint]:
    """Open ``path`` (see module docstring); yields a :class:`Progress` per stage, returns the Checkpoint.

    ``resolve=False`` skips matching the weights against known architectures (builds models on the meta
    device, ~65 ms for a resnet50): callers that only need tensors and names (diff, stats, filters) skip it.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    yield Progress(0, STAGES, f"opening {name}")
    _check_readable(path)
    identity = FileIdentity.of(path)  # before reading: a file that changes during the load is caught too
    ctx = ReadContext(path, os.path.getsize(path))
    source: str | bytes = path
    sniffed = sniff_source(path)
    compression = None
    for _ in range(MAX_UNWRAP):
        if sniffed.kind == "compressed":
            compression = sniffed.detail
            source = decompress(source, sniffed.detail, ctx)
        elif sniffed.kind == "archive":
            compression = compression or sniffed.detail.removeprefix("a ")
            source = unwrap_archive(source, sniffed.detail, ctx)
        else:
            break
        sniffed = sniff_source(source)
    yield Progress(1, STAGES, f"reading {name}")
    with warnings.catch_warnings(record=True) as caught:  # torch's warnings are noise in a viewer
        warnings.simplefilter("always")
        ckpt = _read(path, source, sniffed, trust, ctx)
    ckpt.compression = compression
    ckpt.file_identity = identity
    ckpt.warnings += own_warnings(caught)
    if resolve:
        yield Progress(3, STAGES, "resolving architecture")
        from inspector.core.models.architectures import resolve_architecture

        resolve_architecture(ckpt)
    estimate_model_kinds(ckpt)  # what neither a module nor a known architecture typed: by name
    apply_saved_frozen(ckpt)  # a fine-tuned file's own frozen list, over the inferred "parameters train"
    mark_quantized_layers(ckpt)  # a quantized layer's float bias cannot train either
    map_optimizer_state(ckpt)  # state.0.exp_avg -> "exp_avg of conv1.weight"
    yield Progress(STAGES, STAGES, "done")
    return ckpt


def own_warnings(caught: list[warnings.WarningMessage], limit: int = 10) -> list[str]:
    """The first lines of the warnings that are the inspector's own (:class:`InspectorWarning`: something
    about the file), each once. Everything else torch says while reading (TypedStorage and quantized-tensor
    deprecations, ``torch.jit.load`` notices) is about torch, not the file: logged at debug level only, so
    neither ``list --json``'s ``warnings`` nor the window's Warnings section shows it."""
    own: list[str] = []
    for w in caught:
        first_line = str(w.message).splitlines()[0] if str(w.message) else w.category.__name__
        if issubclass(w.category, InspectorWarning):
            own.append(first_line)
        else:
            log.debug("%s while reading: %s", w.category.__name__, first_line)
    return list(dict.fromkeys(own))[:limit]


# -- stage 1: checks and unwrapping --------------------------------------------------------------------------
def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise InspectorError(f"{path}: no such file; check the path")
    if os.path.isdir(path):
        raise InspectorError(f"{path}: is a folder; open a checkpoint file inside it")
    if not os.path.isfile(path):
        raise InspectorError(f"{path}: not a regular file (a device or a pipe); open a checkpoint file")
    if not os.access(path, os.R_OK):
        raise InspectorError(f"{path}: permission denied; make the file readable")
    if os.path.getsize(path) == 0:
        raise InspectorError(f"{path}: the file is empty (0 bytes); re-download or re-save the checkpoint")


def damaged_file_fix(path: str) -> Fix:
    """What to do with a truncated or corrupt archive: get it again, and verify says which tensors it lost."""
    return Fix(
        cli=f"re-download it or save it again; `inspector verify {path}` names the damaged tensors",
        gui="re-download it or save it again; File › Verify… names the damaged tensors",
    )


# -- stage 2: reading ----------------------------------------------------------------------------------------
def _read(path: str, source: str | bytes, sniffed: Sniffed, trust: bool, ctx: ReadContext) -> Checkpoint:
    if sniffed.kind == "empty":
        raise InspectorError(f"{path}: the file is empty; re-download or re-save the checkpoint")
    if sniffed.kind == "corrupt":
        raise InspectorError(f"{path}: {sniffed.detail}", damaged_file_fix(path))
    if sniffed.kind == "unknown":
        raise InspectorError(
            f"{path}: not a PyTorch checkpoint: it is {sniffed.detail}; open a .pth/.pt/.ckpt/.safetensors file"
        )
    if sniffed.kind == "safetensors":
        return _read_safetensors(path, source)
    if sniffed.kind == "torchscript":
        return _read_torchscript(path, source, trust, ctx)
    if sniffed.kind in ("zip", "pickle", "tar"):
        return _read_torch(path, source, sniffed, trust, ctx)
    raise InspectorError(f"{path}: {sniffed.detail or 'unrecognised content'}; open a PyTorch checkpoint")


def _read_safetensors(path: str, source: str | bytes) -> Checkpoint:
    from inspector.core.checkpoint.safetensors_reader import (
        read_safetensors_header,
        safetensors_tensor_source,
    )

    if isinstance(source, bytes):  # compressed safetensors: no mmap, decode whole
        from safetensors.torch import load as load_bytes

        try:
            tensors = load_bytes(source)
        except Exception as exc:  # safetensors raises its own error types
            raise corrupt_error(path, exc) from None
        return _checkpoint_from_object(path, tensors, container="safetensors", record=None, trusted=False)
    try:
        entries, header_meta = read_safetensors_header(path)
    except Exception as exc:  # SafetensorError, OSError...
        raise corrupt_error(path, exc) from None
    from inspector.core.checkpoint.listing import Listing, canonicalize

    listing = Listing(format="safetensors", entries=entries, model_group="")
    canonicalize(listing)
    return Checkpoint(
        path=path, format="safetensors", container="safetensors", entries=listing.entries,
        metadata={"safetensors_metadata": header_meta} if header_meta else {}, model_group="",
        model_prefix=listing.model_prefix, _tensor_source=safetensors_tensor_source(path),
    )  # fmt: skip


def _read_torchscript(path: str, source: str | bytes, trust: bool, ctx: ReadContext) -> Checkpoint:
    from inspector.core.checkpoint.torchscript import load_torchscript_tree

    tree = load_torchscript_tree(ByteSource(source), ctx)
    obj: Any = None
    if trust:
        import torch

        try:
            obj = torch.jit.load(
                io.BytesIO(source) if isinstance(source, bytes) else source, map_location="cpu"
            )
        except Exception as exc:  # TorchScript raises RuntimeError for most things
            raise InspectorError(
                f"{path}: torch.jit.load failed ({reason_of(exc)})",
                Fix("open it without --trust", "open it again with File › Open… (not trusted: weights only)"),
            ) from None
    # listed from the archive's own records either way: a loaded ScriptModule's state_dict leaves out what
    # quantized modules keep packed; the loaded module is what runs
    ckpt = _checkpoint_from_object(
        path, tree, container="torchscript", record=ctx.record, trusted=trust, devices=ctx.devices
    )
    ckpt.format = "torchscript"
    if obj is not None:
        ckpt.raw = obj
    return ckpt


def _read_torch(
    path: str, source: str | bytes, sniffed: Sniffed, trust: bool, ctx: ReadContext
) -> Checkpoint:
    """Our own readers (``torch_readers``); with trust and classes to import, ``torch.load`` after them."""
    obj, container = read_torch(ByteSource(source), sniffed.kind, ctx)
    if trust and ctx.record.stubbed:
        use_mmap = sniffed.kind == "zip" and isinstance(source, str)
        try:
            loaded = _load_trusted(path, source, use_mmap, ctx.record)
            return _checkpoint_from_object(
                path, loaded, container=container, record=ctx.record, trusted=trust, devices=ctx.devices
            )
        except (_BrokenRebuild, AttributeError) as exc:  # torch rebuilt (or half-rebuilt) a module it cannot
            # use itself; an AttributeError here is the listing of that module (its own attributes missing)
            warnings.warn(
                f"torch.load rebuilt a module that does not work ({reason_of(exc)}; a torch bug with some pickled "
                "modules, e.g. quantized ones): listed from the file's own records instead, without its code",
                InspectorWarning,
                stacklevel=2,
            )
            trust = False
    return _checkpoint_from_object(
        path, obj, container=container, record=ctx.record, trusted=trust, devices=ctx.devices
    )


class _BrokenRebuild(Exception):
    """torch.load gave (or died giving) a module whose own attributes are missing: some pickled modules, e.g.
    quantized ones in recent torch, come back without ``_parameters``/``_modules``."""


def _load_trusted(path, source, use_mmap, record: GlobalsRecord) -> Any:
    import torch

    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:  # the user trusts this file: its own classes are imported and run
        return torch.load(stream, map_location="cpu", weights_only=False, mmap=use_mmap)
    except (ModuleNotFoundError, AttributeError, ImportError) as exc:
        if isinstance(exc, AttributeError) and "Can't get attribute" not in str(exc):
            raise _BrokenRebuild(reason_of(exc)) from None  # not a missing class: a __setstate__ that broke
        raise InspectorError(
            f"{path}: {_missing_class(exc, record)} cannot be imported ({reason_of(exc)}); make the code that defines it "
            "importable (install it or add it to PYTHONPATH), or open the file without trust to browse its weights"
        ) from None
    except Exception as exc:
        raise InspectorError(
            f"{path}: loading with trust failed ({reason_of(exc)}); open it without trust"
        ) from None


def _missing_class(exc: BaseException, record: GlobalsRecord) -> str:
    """'class pkg.Name' (the globals of the missing module) from the import error, for the message."""
    found = re.search(r"Can't get attribute '([^']+)' on <module '([^']+)'", str(exc))
    if found:
        return f"class {found.group(2)}.{found.group(1)}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        named = sorted(g for g in record.stubbed if g.startswith(exc.name + "."))
        return f"class {', '.join(named)}" if named else f"module {exc.name}"
    return "a class the file uses"


# -- stage 3: listing ----------------------------------------------------------------------------------------
def _checkpoint_from_object(
    path: str, obj: Any, *, container: str, record: GlobalsRecord | None, trusted: bool,
    devices: dict[int, str] | None = None,
) -> Checkpoint:  # fmt: skip
    from inspector.core.checkpoint.listing import list_object
    from inspector.core.checkpoint.metadata import extract_metadata

    listing = list_object(obj, devices)
    if not listing.entries and listing.format == "other":
        raise InspectorError(
            f"{path}: the file holds no tensors ({type(obj).__name__}); it is not a checkpoint"
        )
    metadata = extract_metadata(obj)
    if devices:
        metadata["saved_on_devices"] = sorted(set(devices.values()))
    if container == "pickle":
        metadata["file_kind"] = "a plain pickle (pickle.dump), not a torch.save file"
    tensors = listing.tensors
    return Checkpoint(
        path=path, format=listing.format, container=container, entries=listing.entries, metadata=metadata,
        trusted=trusted, globals_referenced=record.all if record else [],
        module_classes=listing.module_classes, model_group=listing.model_group,
        model_prefix=listing.model_prefix, raw=obj, _tensor_source=lambda e: _as_torch(tensors[e.key]),
        stubbed_globals=sorted(record.stubbed) if record else [], shared_objects=listing.shared,
        saved_frozen=saved_frozen_names(obj),
        warnings=["the listing stopped at the entry budget (INSPECTOR_MAX_ENTRIES); some tensors are not shown"]
        if listing.truncated else [],
    )  # fmt: skip


def _as_torch(value):
    import torch

    return value if isinstance(value, torch.Tensor) else torch.from_numpy(value)
