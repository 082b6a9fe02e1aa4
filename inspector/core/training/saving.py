"""Write a fine-tuned checkpoint: never over the base file unless confirmed, atomically, loadable with
``torch.load(weights_only=True)``.

One rule for every save path (the CLI, the GUI, :func:`atomic_torch_save` itself): the base file is replaced
only when ``replace_base`` says a person confirmed it (the GUI's question; the CLI never asks, so never), any
other existing file only with ``overwrite`` (``--force``, or the GUI's question).

The file is written to a temporary name in the target folder, flushed and fsynced, then renamed over the target
(``os.replace``), and the folder is fsynced: a crash, a full disk or an out-of-memory error mid-write leaves the
old file (or none), never half a checkpoint.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

from inspector.core.errors import Fix, InspectorError


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


BASE_FIX = Fix(cli="choose another --out; --force replaces only files other than the input",
              gui="save to a new name (or confirm overwrite)")  # fmt: skip
EXISTS_FIX = Fix(
    cli="choose a new name or pass --force to replace it", gui="choose a new name (or confirm overwrite)"
)


def check_target(out, base=None, overwrite: bool = False, replace_base: bool = False) -> str:
    """``out`` as an absolute path, refused when it is the base file (unless ``replace_base``: confirmed in the
    GUI), when it exists and ``overwrite`` is off, or when its folder is missing or read-only; checked before
    training so no run is wasted, and again just before writing (see :func:`atomic_torch_save`)."""
    out = os.path.abspath(os.fspath(out))
    folder = os.path.dirname(out)
    if os.path.isdir(out):
        raise InspectorError(f"{out}: is a folder; name a file, e.g. {os.path.join(out, 'finetuned.pth')}")
    is_base = base is not None and os.path.exists(out) and os.path.samefile(out, base)
    if is_base and not replace_base:
        raise InspectorError(f"{out}: that is the file being fine-tuned", BASE_FIX)
    if os.path.exists(out) and not is_base and not overwrite:
        raise InspectorError(f"{out}: exists already", EXISTS_FIX)
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


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file under the current umask (``0o666 & ~umask``), which ``torch.save``
    to a path would give too; ``mkstemp``'s temporary file is 0600. The umask can only be read by setting it."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_torch_save(obj, out, base=None, overwrite: bool = True, replace_base: bool = False) -> str:
    """``torch.save(obj)`` to ``out`` through a temporary file, fsync and rename. The target is checked again
    by :func:`check_target`'s rule (``base``/``overwrite``/``replace_base``), so a file that appeared during a
    long run is not replaced silently and the base file never without confirmation. The new file gets the mode
    the umask allows; a replaced file keeps its own mode."""
    import torch

    out = check_target(out, base, overwrite=overwrite, replace_base=replace_base)
    folder = os.path.dirname(out)
    try:
        mode = os.stat(out).st_mode & 0o7777
    except OSError:
        mode = new_file_mode()
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
            os.fchmod(stream.fileno(), mode)
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
