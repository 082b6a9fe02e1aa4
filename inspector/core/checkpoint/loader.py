"""Open any PyTorch checkpoint without running code from it: the one entry point from a file to a Checkpoint.

The steps, each a stage of the :func:`iter_load_checkpoint` job:

1. **Sniff** the bytes (``inspector.core.checkpoint.sniff``); unwrap gzip/bz2/xz and single-file zip/tar wrappers.
2. **Read** with the reader the bytes call for:
   - torch zip, legacy (pre-1.6) and pre-0.4 tar checkpoints: ``torch.load(weights_only=True)`` first, with
     ``mmap=True`` for zip files so listing a multi-GB file reads only its pickle. If torch refuses (a whole
     pickled module, custom classes, numpy arrays), read again through the restricted unpickler
     (``inspector.core.checkpoint.safe_unpickle``): tensors are rebuilt, every other global becomes an inert stub.
     Files that reference dangerous globals are refused with their names. With ``trust=True`` the real classes
     are then imported (``torch.load(weights_only=False)``), which running the model needs.
   - TorchScript: listed from the archive's pickle (``inspector.core.checkpoint.torchscript``); ``torch.jit.load`` on trust.
   - safetensors: header only (``inspector.core.checkpoint.safetensors_reader``).
   - plain pickles (not written by ``torch.save``): the restricted unpickler alone.
3. **List** entries and metadata (``inspector.core.checkpoint.listing``, ``inspector.core.checkpoint.metadata``), then try to name
   the architecture (``inspector.core.models.architectures``), which decides parameter/buffer kinds for state dicts.

Every expected failure is an :class:`InspectorError` whose one-line message names the file and the fix.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import os
import pickle
import re
import tarfile
import warnings
import zipfile
from typing import Any

from inspector.core.checkpoint.model import Checkpoint
from inspector.core.checkpoint.safe_unpickle import (
    GlobalsRecord,
    make_pickle_module,
    recording,
    restricted_loads,
)
from inspector.core.checkpoint.sniff import Sniffed, sniff_source
from inspector.core.errors import InspectorError, UnsafeCheckpointError
from inspector.core.jobs import Job, Progress, run_job

STAGES = 5
MAX_UNWRAP = 3
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".bin", ".pkl", ".pickle", ".tar", ".safetensors", ".model")


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
    source: str | bytes = path
    sniffed = sniff_source(path)
    compression = None
    for _ in range(MAX_UNWRAP):
        if sniffed.kind == "compressed":
            compression = sniffed.detail
            source = _decompress(path, source, sniffed.detail)
        elif sniffed.kind == "archive":
            compression = compression or sniffed.detail.removeprefix("a ")
            source = _unwrap_archive(path, source, sniffed.detail)
        else:
            break
        sniffed = sniff_source(source)
    yield Progress(1, STAGES, f"reading {name}")
    with warnings.catch_warnings(record=True) as caught:  # torch's warnings are noise in a viewer
        warnings.simplefilter("always")
        ckpt = _read(path, source, sniffed, trust)
    ckpt.compression = compression
    ckpt.warnings = list(dict.fromkeys(str(w.message).splitlines()[0] for w in caught))[:10]
    if resolve:
        yield Progress(3, STAGES, "resolving architecture")
        from inspector.core.models.architectures import resolve_architecture

        resolve_architecture(ckpt)
    yield Progress(STAGES, STAGES, "done")
    return ckpt


# -- stage 1: checks and unwrapping --------------------------------------------------------------------------
def _check_readable(path: str) -> None:
    if not os.path.exists(path):
        raise InspectorError(f"{path}: no such file; check the path")
    if os.path.isdir(path):
        raise InspectorError(f"{path}: is a folder; open a checkpoint file inside it")
    if not os.access(path, os.R_OK):
        raise InspectorError(f"{path}: permission denied; make the file readable")
    if os.path.getsize(path) == 0:
        raise InspectorError(f"{path}: the file is empty (0 bytes); re-download or re-save the checkpoint")


def _decompress(path: str, source: str | bytes, codec: str) -> bytes:
    openers = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
    if codec not in openers:
        raise InspectorError(f"{path}: {codec}-compressed; decompress it first (e.g. 'unzstd {path}')")
    try:
        with openers[codec](io.BytesIO(source) if isinstance(source, bytes) else source, "rb") as f:
            return f.read()
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise InspectorError(
            f"{path}: the {codec} data is truncated or corrupt ({_reason(exc)}); re-download it"
        ) from None


def _unwrap_archive(path: str, source: str | bytes, detail: str) -> bytes:
    """The one checkpoint inside a zip/tar that is only a wrapper (e.g. a release asset)."""
    file = io.BytesIO(source) if isinstance(source, bytes) else source
    if "zip" in detail:
        with zipfile.ZipFile(file) as z:
            members = [i.filename for i in z.infolist() if not i.is_dir()]
            chosen = _choose_member(path, members)
            return z.read(chosen)
    with tarfile.open(fileobj=file) if isinstance(file, io.BytesIO) else tarfile.open(file) as t:
        members = [m.name for m in t.getmembers() if m.isfile()]
        chosen = _choose_member(path, members)
        return t.extractfile(chosen).read()


def _choose_member(path: str, members: list[str]) -> str:
    if len(members) == 1:
        return members[0]
    likely = [m for m in members if m.lower().endswith(CHECKPOINT_SUFFIXES)]
    if len(likely) == 1:
        return likely[0]
    shown = ", ".join(members[:5]) + (", ..." if len(members) > 5 else "")
    raise InspectorError(
        f"{path}: an archive of {len(members)} files ({shown}); extract the checkpoint and open that file"
    )


# -- stage 2: reading ----------------------------------------------------------------------------------------
def _read(path: str, source: str | bytes, sniffed: Sniffed, trust: bool) -> Checkpoint:
    if sniffed.kind == "empty":
        raise InspectorError(f"{path}: the file is empty; re-download or re-save the checkpoint")
    if sniffed.kind == "corrupt":
        raise InspectorError(f"{path}: {sniffed.detail}; re-download it or save it again")
    if sniffed.kind == "unknown":
        raise InspectorError(
            f"{path}: not a PyTorch checkpoint: it is {sniffed.detail}; open a .pth/.pt/.ckpt/.safetensors file"
        )
    if sniffed.kind == "safetensors":
        return _read_safetensors(path, source)
    if sniffed.kind == "torchscript":
        return _read_torchscript(path, source, trust)
    if sniffed.kind in ("zip", "pickle", "tar"):
        return _read_torch(path, source, sniffed, trust)
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
            raise _corrupt(path, exc) from None
        return _checkpoint_from_object(path, tensors, container="safetensors", record=None, trusted=False)
    try:
        entries, header_meta = read_safetensors_header(path)
    except Exception as exc:  # SafetensorError, OSError...
        raise _corrupt(path, exc) from None
    from inspector.core.checkpoint.listing import Listing, canonicalize

    listing = Listing(format="safetensors", entries=entries, model_group="")
    canonicalize(listing)
    return Checkpoint(
        path=path, format="safetensors", container="safetensors", entries=listing.entries,
        metadata={"safetensors_metadata": header_meta} if header_meta else {}, model_group="",
        model_prefix=listing.model_prefix, _tensor_source=safetensors_tensor_source(path),
    )  # fmt: skip


def _read_torchscript(path: str, source: str | bytes, trust: bool) -> Checkpoint:
    from inspector.core.checkpoint.torchscript import load_torchscript_tree

    record = GlobalsRecord()
    devices: dict[int, str] = {}
    try:
        tree = load_torchscript_tree(source, record, _device_recorder(devices))
    except InspectorError:
        raise
    except Exception as exc:
        raise _corrupt(path, exc) from None
    _refuse_dangerous(path, record)
    obj: Any = tree
    if trust:
        import torch

        try:
            obj = torch.jit.load(
                io.BytesIO(source) if isinstance(source, bytes) else source, map_location="cpu"
            )
        except Exception as exc:  # TorchScript raises RuntimeError for most things
            raise InspectorError(
                f"{path}: torch.jit.load failed ({_reason(exc)}); open it without --trust"
            ) from None
    ckpt = _checkpoint_from_object(
        path, obj, container="torchscript", record=record, trusted=trust, devices=devices
    )
    ckpt.format = "torchscript"
    return ckpt


def _read_torch(path: str, source: str | bytes, sniffed: Sniffed, trust: bool) -> Checkpoint:
    import torch

    is_zip = sniffed.kind == "zip"
    container = {"zip": "zip", "tar": "tar"}.get(sniffed.kind, "legacy")
    use_mmap = is_zip and isinstance(source, str)
    devices: dict[int, str] = {}

    def stream():
        return io.BytesIO(source) if isinstance(source, bytes) else source

    record: GlobalsRecord | None = None
    try:
        obj = torch.load(stream(), map_location=_device_recorder(devices), weights_only=True, mmap=use_mmap)
    except pickle.UnpicklingError as exc:
        if "Weights only load failed" not in str(exc) and not _is_plain_pickle_error(exc):
            raise _corrupt(path, exc) from None
        obj, record, plain = _read_restricted(path, stream, use_mmap, devices)
        container = "pickle" if plain else container
    except RuntimeError as exc:
        if "Invalid magic number" in str(exc) or "magic_number" in str(exc):
            obj, record = _read_plain_pickle(path, source)
            container = "pickle"
        elif "legacy .tar format" in str(exc):  # torch < 0.4: weights_only cannot read it, stubs can
            obj, record, _ = _read_restricted(path, stream, False, devices)
        else:
            raise _corrupt(path, exc) from None
    except Exception as exc:  # EOFError, ValueError, struct.error...: what broken files raise
        raise _corrupt(path, exc) from None
    if record is not None and trust:
        obj = _load_trusted(path, stream, use_mmap, record)
    return _checkpoint_from_object(
        path, obj, container=container, record=record, trusted=trust, devices=devices
    )


def _read_restricted(path, stream, use_mmap, devices) -> tuple[Any, GlobalsRecord, bool]:
    """The object read through the restricted unpickler, its globals, and whether it was a plain pickle."""
    import torch

    record = GlobalsRecord()
    try:
        with recording(record):
            obj = torch.load(  # weights_only=False with the restricted pickle_module: nothing from the file runs
                stream(), map_location=_device_recorder(devices), weights_only=False,
                pickle_module=make_pickle_module(record), mmap=use_mmap,
            )  # fmt: skip
    except RuntimeError as exc:
        if "Invalid magic number" in str(exc):
            return (*_read_plain_pickle(path, stream()), True)
        raise _corrupt(path, exc) from None
    except Exception as exc:
        raise _corrupt(path, exc) from None
    _refuse_dangerous(path, record)
    return obj, record, False


def _read_plain_pickle(path: str, source) -> tuple[Any, GlobalsRecord]:
    """A pickle not written by ``torch.save`` (e.g. ``pickle.dump`` of a dict of arrays)."""
    record = GlobalsRecord()
    data = source if isinstance(source, bytes | io.BytesIO) else open(source, "rb").read()  # noqa: SIM115
    try:
        obj = restricted_loads(data.getvalue() if isinstance(data, io.BytesIO) else data, record)
    except Exception as exc:
        raise _corrupt(path, exc) from None
    _refuse_dangerous(path, record)
    return obj, record


def _load_trusted(path, stream, use_mmap, record: GlobalsRecord) -> Any:
    import torch

    try:
        return torch.load(stream(), map_location="cpu", weights_only=False, mmap=use_mmap)
    except (ModuleNotFoundError, AttributeError, ImportError) as exc:
        raise InspectorError(
            f"{path}: {_missing_class(exc, record)} cannot be imported ({_reason(exc)}); make the code that defines it "
            "importable (install it or add it to PYTHONPATH), or open the file without trust to browse its weights"
        ) from None
    except Exception as exc:
        raise InspectorError(
            f"{path}: loading with trust failed ({_reason(exc)}); open it without trust"
        ) from None


def _refuse_dangerous(path: str, record: GlobalsRecord) -> None:
    dangerous = record.dangerous
    if dangerous:
        raise UnsafeCheckpointError(
            f"{path}: refused: the file references globals that can run code ({', '.join(dangerous)}); "
            "nothing was executed; do not load it with torch.load",
            dangerous,
        )


def _device_recorder(devices: dict[int, str]):
    """A ``map_location`` that keeps storages on the CPU and remembers where each was saved."""

    def keep_on_cpu(storage, location):
        if location and location != "cpu":
            with contextlib.suppress(RuntimeError):
                devices[storage.data_ptr()] = location
        return storage

    return keep_on_cpu


def _missing_class(exc: BaseException, record: GlobalsRecord) -> str:
    """'class pkg.Name' (the globals of the missing module) from the import error, for the message."""
    found = re.search(r"Can't get attribute '([^']+)' on <module '([^']+)'", str(exc))
    if found:
        return f"class {found.group(2)}.{found.group(1)}"
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        named = sorted(g for g in record.stubbed if g.startswith(exc.name + "."))
        return f"class {', '.join(named)}" if named else f"module {exc.name}"
    return "a class the file uses"


def _is_plain_pickle_error(exc: Exception) -> bool:
    return "magic" in str(exc).lower()


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
    tensors = listing.tensors
    return Checkpoint(
        path=path, format=listing.format, container=container, entries=listing.entries, metadata=metadata,
        trusted=trusted, globals_referenced=record.all if record else [],
        module_classes=listing.module_classes, model_group=listing.model_group,
        model_prefix=listing.model_prefix, raw=obj, _tensor_source=lambda e: _as_torch(tensors[e.key]),
        stubbed_globals=sorted(record.stubbed) if record else [],
    )  # fmt: skip


def _as_torch(value):
    import torch

    return value if isinstance(value, torch.Tensor) else torch.from_numpy(value)


def _corrupt(path: str, exc: BaseException) -> InspectorError:
    return InspectorError(
        f"{path}: cannot read it as a PyTorch checkpoint; it is truncated, corrupt or not a checkpoint "
        f"({_reason(exc)}); re-download it or save it again"
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
