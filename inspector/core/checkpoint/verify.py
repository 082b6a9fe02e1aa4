"""Check a checkpoint's bytes, not just its structure: CRC-32 of every zip record and every tensor's bounds.

Listing memory-maps tensor data and never reads it, so a file with flipped bytes inside a tensor lists and
loads with silently wrong values. :func:`iter_verify` is the job behind ``inspector verify`` and File ›
Verify…: it streams every zip record through :mod:`zipfile` (which checks the CRC-32 the writer stored), then
reads the file's structure with the loader's own readers (storages memory-mapped, or on the meta device where
a record is short; nothing read, nothing trusted), to learn which tensors use which storage and how many bytes each needs, and compares that
with the bytes each record really holds. Damage is reported by record *and* by the tensor names that use it.

Formats without checksums (pre-1.6 legacy files, safetensors, pre-0.4 tars, plain pickles) are checked for
what they carry (sizes and bounds); :attr:`VerifyReport.unchecked` says what could not be checked.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

from inspector.core.checkpoint.read_context import ReadContext
from inspector.core.checkpoint.sniff import sniff_source
from inspector.core.checkpoint.wrappers import decompress, unwrap_archive
from inspector.core.errors import InspectorError
from inspector.core.formatting import format_names, plural
from inspector.core.jobs import Job, Progress, run_job

CRC_MISMATCH = "crc mismatch"
HEADER_MISMATCH = "header mismatch"  # the central directory disagrees with the record's local header
OUT_OF_BOUNDS = "out of bounds"
MISSING = "missing"
UNREADABLE = "unreadable"
TRAILING = "trailing data"  # bytes after what the format covers, that its reader refuses (safetensors)
FIX = "re-download the file or restore it from a copy"
MAX_UNWRAP = 3


@dataclass
class DamagedRecord:
    """One record (``archive/data/3``, ``data.pkl``, ``storage 2``) that failed a check, the tensors it holds."""

    record: str
    problem: str  # CRC_MISMATCH | HEADER_MISMATCH | OUT_OF_BOUNDS | MISSING | UNREADABLE
    tensors: list[str] = field(default_factory=list)
    detail: str = ""
    crcs: tuple[int, int] | None = None  # CRC_MISMATCH: (stored, computed)
    labels: dict[str, str] = field(
        default_factory=dict
    )  # tensor -> "exp_avg of fc1.weight" (optimizer state)

    def to_json(self) -> dict[str, Any]:
        found = {
            "record": self.record,
            "tensors": self.tensors,
            "problem": self.problem,
            "detail": self.detail,
        }
        if self.labels:
            found["labels"] = dict(self.labels)
        if self.crcs is not None:
            found.update(stored_crc=f"{self.crcs[0]:08x}", computed_crc=f"{self.crcs[1]:08x}")
        return found

    def line(self) -> str:
        """The one line the CLI prints and the GUI lists: where, which tensors, what happened (for a person)."""
        names = format_names((self._labelled(t) for t in self.tensors), 8)
        if not self.tensors:
            what = "the file's structure, not one tensor's data"
        else:
            what = f"tensor {names}" if len(self.tensors) == 1 else f"tensors {names}"
        if self.problem == CRC_MISMATCH and self.crcs is not None:
            how = (f"CRC-32 mismatch (stored {self.crcs[0]:08x}, computed {self.crcs[1]:08x}): the bytes changed "
                   "after the file was written")  # fmt: skip
        else:
            how = f"{self.problem}: {self.detail}" if self.detail else self.problem
        return f"{self.record} ({what}): {how}"

    def _labelled(self, tensor: str) -> str:
        """``optimizer_state_dict/state.6.exp_avg (exp_avg of fc1.weight)``, as ``list`` shows it."""
        return f"{tensor} ({self.labels[tensor]})" if tensor in self.labels else tensor


@dataclass
class VerifyReport:
    """What :func:`iter_verify` found; ``ok`` when no record is damaged."""

    file: str
    format: str = ""
    records_checked: int = 0
    tensors_checked: int = 0
    damaged: list[DamagedRecord] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # what this format cannot be checked for
    trailing_bytes: int = (
        0  # after the end of a zip or legacy file: torch.load ignores them (a note, not damage)
    )
    labels: dict[str, str] = field(default_factory=dict)  # tensor key -> optimizer label, from the listing

    @property
    def notes(self) -> list[str]:
        """What is odd but not damage (the CLI prints ``note: ...``, the dialog lists them)."""
        if not self.trailing_bytes:
            return []
        end = "the archive" if self.format in ("zip", "torchscript") else "the file's data"
        return [
            f"{self.trailing_bytes:,} bytes after the end of {end} (a broken download or two files joined?)"
        ]

    @property
    def ok(self) -> bool:
        return not self.damaged

    @property
    def damaged_tensors(self) -> list[str]:
        """Every tensor a damaged record holds, each once, in the file's order."""
        return list(dict.fromkeys(name for record in self.damaged for name in record.tensors))

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file, "ok": self.ok, "format": self.format, "records_checked": self.records_checked,
            "tensors_checked": self.tensors_checked, "damaged": [d.to_json() for d in self.damaged],
            "unchecked": self.unchecked, "error": None, "advice": advice(self), "notes": self.notes,
            "trailing_bytes": self.trailing_bytes,
        }  # fmt: skip

    def summary_line(self) -> str:
        verdict = "ok" if self.ok else plural(len(self.damaged), "damaged record")
        return (
            f"{self.file}: {verdict}: {plural(self.records_checked, 'record')} and "
            f"{plural(self.tensors_checked, 'tensor')} checked ({self.format})"
        )


def verdict_line(report: VerifyReport) -> str:
    """The summary line, ending with what to do when something is damaged (the CLI's and the dialog's last line)."""
    return report.summary_line() + (f"; {advice(report)}" if not report.ok else "")


def advice(report: VerifyReport) -> str:
    """What the damage means for the tensors, and the fix ("" when nothing is damaged)."""
    named = [d for d in report.damaged if d.tensors]
    if not report.damaged:
        return ""
    if any(d.problem == CRC_MISMATCH for d in named):
        meaning = "the values of these tensors are wrong"
    elif any(d.problem in (OUT_OF_BOUNDS, MISSING) for d in named):
        meaning = "the data of these tensors is missing or cut short"
    else:
        meaning = "torch.load cannot read the file as it is"
    return f"{meaning}: {FIX}"


def verify_checkpoint(path) -> VerifyReport:
    """:func:`iter_verify` driven to the end on this thread."""
    return run_job(iter_verify(path))


def iter_verify(path) -> Job[VerifyReport]:
    """Verify ``path`` (see module docstring); yields :class:`Progress` in bytes checked, returns the report.

    Raises :class:`InspectorError` (one line) when the file cannot be read at all (no zip directory, not a
    checkpoint) or when every check passes but the loader still refuses it; damage found inside a readable
    file is in the report."""
    path = os.fspath(path)
    yield Progress(0, 0, f"opening {os.path.basename(path)}")
    _check_readable(path)
    ctx = ReadContext(path, os.path.getsize(path))
    source: str | bytes = path
    sniffed = sniff_source(path)
    for _ in range(MAX_UNWRAP):  # the loader's unwrapping: gzip/bz2/xz (own CRCs) and one-file zips/tars
        if sniffed.kind == "compressed":
            source = decompress(source, sniffed.detail, ctx)
        elif sniffed.kind == "archive":
            source = unwrap_archive(source, sniffed.detail, ctx)
        else:
            break
        sniffed = sniff_source(source)
    truncated_zip = sniffed.kind == "corrupt" and sniffed.detail.startswith("a zip archive")
    report = VerifyReport(file=path, format="zip" if truncated_zip else sniffed.kind)
    if (
        sniffed.kind in ("zip", "torchscript") or truncated_zip
    ):  # truncated: its whole records, from the start
        from inspector.core.checkpoint.verify_zip import iter_verify_zip

        try:
            yield from iter_verify_zip(source, ctx, report, torchscript=sniffed.kind == "torchscript")
        except InspectorError:
            if truncated_zip:  # no whole data.pkl either: the loader's own message, as for any corrupt file
                from inspector.core.checkpoint.loader import load_checkpoint

                load_checkpoint(path, resolve=False)
            raise
    elif sniffed.kind == "safetensors":
        from inspector.core.checkpoint.verify_other import verify_safetensors

        with quiet_warnings():
            verify_safetensors(source, ctx, report)
    elif sniffed.kind in ("pickle", "tar"):
        from inspector.core.checkpoint.verify_other import verify_legacy_or_pickle

        with quiet_warnings():
            verify_legacy_or_pickle(source, sniffed.kind, ctx, report)
    else:
        from inspector.core.checkpoint.loader import load_checkpoint

        load_checkpoint(path, resolve=False)  # raises the loader's one-line message for what it is
        raise InspectorError(f"{path}: verify does not know this format ({sniffed.kind}); open it to list it")
    for damaged in report.damaged:
        damaged.labels = {t: report.labels[t] for t in damaged.tensors if t in report.labels}
    if report.ok:  # what verify passes, the loader opens: its own checks decide last (one-line error)
        from inspector.core.checkpoint.loader import load_checkpoint

        yield Progress(1, 1, "reading it as the loader does")
        with quiet_warnings():
            load_checkpoint(path, resolve=False)
    yield Progress(1, 1, "done")
    return report


@contextlib.contextmanager
def quiet_warnings():
    """torch's warnings (deprecated TypedStorage...) are noise in a report, as in the loader's listing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _check_readable(path: str) -> None:
    from inspector.core.checkpoint import loader

    loader._check_readable(path)  # the loader's own messages for missing, folders, empty files


def names_by_storage(
    obj: Any, ctx: ReadContext, storage_keys: dict[int, tuple[str, int]], labels: dict[str, str] | None = None
) -> tuple[dict[str, list], int]:
    """``{storage key: [(tensor name, bytes of the storage it needs), ...]}`` of the listing of ``obj``, and how
    many tensors the listing holds; ``storage_keys`` maps a storage's ``_cdata`` to its key and where it starts
    in that storage (a legacy storage view), filled by the reader. ``labels``, when given, gets the optimizer
    state's labels (tensor key -> "exp_avg of fc1.weight"), so damage is named as ``list`` names it."""
    from inspector.core.checkpoint.listing import list_object

    listing = list_object(obj, ctx.devices, ctx.limits)
    if labels is not None:
        labels.update(optimizer_labels(listing, obj, ctx.path))
    users: dict[str, list[tuple[str, int]]] = {}
    for entry in listing.entries:
        tensor = listing.tensors[entry.key]
        found = _storage_key(tensor, storage_keys)
        if found is not None:
            key, base = found
            users.setdefault(key, []).append((entry.key, base + bytes_needed(tensor)))
    return users, len(listing.entries)


def optimizer_labels(listing: Any, obj: Any, path: str) -> dict[str, str]:
    """Tensor key -> label of the optimizer state a listing holds, mapped as the loader maps it (kinds by name,
    then ``map_optimizer_state``) on copies of its entries: a label is a hint, never a reason to fail."""
    import copy

    from inspector.core.checkpoint.kinds import estimate_model_kinds
    from inspector.core.checkpoint.model import Checkpoint
    from inspector.core.checkpoint.optimizer_state import map_optimizer_state

    try:
        ckpt = Checkpoint(
            path=path, format=listing.format, container="", entries=[copy.copy(e) for e in listing.entries],
            model_group=listing.model_group, model_prefix=listing.model_prefix, raw=obj,
        )  # fmt: skip
        estimate_model_kinds(ckpt)
        map_optimizer_state(ckpt)
    except Exception:  # noqa: BLE001 - damaged files hold anything; the raw names stay
        return {}
    return {e.key: e.state_label for e in ckpt.entries if e.state_label}


def _storage_key(tensor: Any, storage_keys: dict[int, tuple[str, int]]) -> tuple[str, int] | None:
    try:
        return storage_keys.get(tensor.untyped_storage()._cdata)
    except (AttributeError, RuntimeError, NotImplementedError):  # numpy arrays, quantized tensors
        return None


def bytes_needed(tensor: Any) -> int:
    """The end of the last byte ``tensor`` reads in its storage: (offset + extent) * itemsize."""
    if tensor.numel() == 0:
        return 0
    extent = 1 + sum((n - 1) * s for n, s in zip(tensor.shape, tensor.stride(), strict=True))
    return (tensor.storage_offset() + extent) * tensor.element_size()


def check_users(report: VerifyReport, record: str, users: list[tuple[str, int]], available: int,
                why: str) -> None:  # fmt: skip
    """Add ``record`` as out of bounds for the tensors that need more than ``available`` bytes of it."""
    short = [name for name, needed in users if needed > available]
    if short:
        report.damaged.append(DamagedRecord(record, OUT_OF_BOUNDS, short, why))
