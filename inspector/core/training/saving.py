"""Write a fine-tuned checkpoint: never over the base file unless confirmed, atomically, loadable with
``torch.load(weights_only=True)``.

The file is written to a temporary name in the target folder, flushed and fsynced, then renamed over the target
(``os.replace``), and the folder is fsynced: a crash, a full disk or an out-of-memory error mid-write leaves the
old file (or none), never half a checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from inspector.core.errors import InspectorError


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_target(out, base=None, overwrite: bool = False) -> str:
    """``out`` as an absolute path, refused when it is the base file (or exists) and ``overwrite`` is off,
    or when its folder is missing or read-only; checked before training so no run is wasted."""
    out = os.path.abspath(os.fspath(out))
    folder = os.path.dirname(out)
    if os.path.isdir(out):
        raise InspectorError(f"{out}: is a folder; name a file, e.g. {os.path.join(out, 'finetuned.pth')}")
    if base is not None and os.path.exists(out) and os.path.samefile(out, base) and not overwrite:
        raise InspectorError(
            f"{out}: that is the file being fine-tuned; save to a new name (or confirm overwrite)"
        )
    if os.path.exists(out) and not overwrite:
        raise InspectorError(f"{out}: exists already; choose a new name or pass --force to replace it")
    if not os.path.isdir(folder):
        raise InspectorError(f"{out}: the folder {folder} does not exist; create it or choose another")
    if not os.access(folder, os.W_OK) or not _can_create_in(folder):
        raise InspectorError(f"{out}: the folder {folder} is read-only; choose a writable folder")
    return out


def _can_create_in(folder: str) -> bool:
    """Create and remove a probe file: ``os.access`` says yes to root for a chmod 555 folder, and to anyone on a
    read-only mount or a pseudo file system, where saving would only fail after the whole training run."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".inspector-probe.", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def atomic_torch_save(obj, out) -> str:
    """``torch.save(obj)`` to ``out`` through a temporary file, fsync and rename."""
    import torch

    out = os.path.abspath(os.fspath(out))
    folder = os.path.dirname(out)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(out)}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InspectorError(
            f"{out}: cannot write in {folder} ({exc.strerror}); choose a writable folder"
        ) from None
    try:
        with os.fdopen(fd, "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise InspectorError(f"{out}: saving failed ({exc.strerror}); nothing was written") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return out
