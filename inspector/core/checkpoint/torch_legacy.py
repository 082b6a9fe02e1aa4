"""Read pre-1.6 ``torch.save`` files and pre-0.4 tar checkpoints ourselves, never through torch's loader.

torch's legacy loader does more than unpickle: a ``('module', type, file, source)`` persistent id writes a
``.patch`` file when the type sets ``dump_patches``, the tar format is extracted to disk (following links
and FIFOs), and a storage declared in the pickle but absent from the data is allocated uninitialised. Here:

- **legacy** (magic number, protocol, sys_info, main pickle, storage keys, then each storage as an 8-byte
  element count and its bytes): the main pickle is unpickled once with storages on the meta device, which
  records each storage's type and size without allocating; the data section is then walked and every storage
  checked against it (present, same size, inside the file); the main pickle is then unpickled for real with
  storages cut from the file. ``module`` persistent ids only return their (stubbed) class.
- **tar**: only regular members are read, from memory (no links, devices, sparse members; nothing extracted).

A first pickle that is not torch's magic number is a plain pickle (``pickle.dump``): it is returned as such.
"""

from __future__ import annotations

import io
import struct
import tarfile
from typing import Any

from inspector.core.checkpoint.allowlist import (
    Refused,
    TypeRef,
    check_view_in_storage,
    integer,
    ints,
    one_of,
)
from inspector.core.checkpoint.byte_source import ByteSource, storage_from_bytes
from inspector.core.checkpoint.pickle_scan import scan_pickle
from inspector.core.checkpoint.safe_unpickle import unpickle
from inspector.core.formatting import format_names

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
TAR_MEMBERS = ("sys_info", "pickle", "storages", "tensors")


def _element_size(dtype) -> int:
    import torch

    return torch._utils._element_size(dtype)


def _storage_dtype(storage_type) -> Any:
    if not isinstance(storage_type, TypeRef) or storage_type.dtype is None:
        raise Refused("a storage of an unknown type")
    return storage_type.dtype


def _text(value) -> str:
    """A persistent id's field as text; anything else is refused (``str()`` of a storage is pages long)."""
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    if isinstance(value, str | int):
        return str(value)
    raise Refused(f"a persistent id with a {type(value).__name__} where text belongs")


def storage_keys(keys, ctx) -> list[str]:
    """The storage key list that follows the main pickle, as text (a corrupt list: the one-line error)."""
    if not isinstance(keys, list) or len(keys) > ctx.limits.max_entries:
        ctx.corrupt("the storage key list is missing")
    if not all(isinstance(k, str | bytes | int) for k in keys):
        ctx.corrupt("the storage key list holds something other than keys")
    return [_text(k) for k in keys]


MAX_META_BYTES = (
    1 << 62
)  # a declared storage past this is refused outright (a meta placeholder cannot hold it)


# -- pre-1.6 ------------------------------------------------------------------------------------------------
def read_legacy_or_plain(source: ByteSource, ctx) -> tuple[Any, bool]:
    """(object, is_plain_pickle) of a non-zip pickle file."""
    data = source.data
    first, pos = unpickle(data, ctx, 0)
    if first != MAGIC_NUMBER or pos >= len(data):
        return first, True
    protocol, pos = unpickle(data, ctx, pos)
    if protocol != PROTOCOL_VERSION:
        ctx.corrupt(f"unknown legacy protocol version {protocol!r}")
    sys_info, main_start = unpickle(data, ctx, pos)
    little = not (isinstance(sys_info, dict) and sys_info.get("little_endian") is False)
    main_end = scan_pickle(data, ctx.path, ctx.limits, main_start).end
    keys, data_start = unpickle(data, ctx, main_end)
    keys = storage_keys(keys, ctx)

    declared: dict[str, Any] = {}  # root key -> dtype, from a first pass on the meta device
    placeholders: dict[int, tuple[str, int]] = {}
    sized = _unpickle_legacy_main(data, ctx, main_start, declared, None, _remember(placeholders))
    _refuse_storages_past_the_end(sized, ctx, declared, placeholders, len(data))
    layout = _walk_storages(data, ctx, keys, declared, data_start)
    storages = {}
    for key, (offset, nbytes) in layout.items():
        untyped = source.storage(offset, nbytes)
        if not little:
            untyped.byteswap(declared[key][0])
        storages[key] = untyped
    obj = _unpickle_legacy_main(data, ctx, main_start, declared, storages)
    return obj, False


def _remember(placeholders: dict) -> Any:
    alive: list[Any] = []  # every placeholder stays alive, so no _cdata is reused

    def on_storage(key, storage, offset):
        alive.append(storage)
        placeholders[storage._cdata] = (key, offset)

    return on_storage


def _refuse_storages_past_the_end(obj, ctx, declared: dict, placeholders: dict, file_size: int) -> None:
    """A storage larger than the whole file: the file is cut short or damaged (not an attack: its size was
    checked against the meta-device budget, nothing was allocated). The one-line error names the tensors that
    use it (the storage's key is an internal number) and the fix."""
    past = {key for key, (_, nbytes) in declared.items() if nbytes > file_size}
    if not past:
        return
    from inspector.core.checkpoint.verify import names_by_storage

    users, _ = names_by_storage(obj, ctx, placeholders)
    names = [name for key in past for name, _ in users.get(key, [])]
    needed = max(declared[key][1] for key in past)
    what = (
        (f"tensor {names[0]}" if len(names) == 1 else f"tensors {format_names(names, 8)}")
        if names
        else "a tensor"
    )
    ctx.corrupt(
        f"{what} need{'s' if len(names) <= 1 else ''} {needed:,} bytes of data, more than the whole file holds "
        f"({file_size:,} bytes): the file is cut short or damaged"
    )


def _walk_storages(data, ctx, keys: list[str], declared: dict, pos: int) -> dict[str, tuple[int, int]]:
    """Offset and length of each storage's bytes; every declared storage must be there, whole."""
    missing = [k for k in declared if k not in keys]
    if missing:
        ctx.corrupt(f"storage {missing[0]} is declared but its data is absent")
    layout = {}
    for key in keys:
        if key not in declared:
            ctx.corrupt(f"storage key {key!r} has no tensor")
        dtype, nbytes = declared[key]
        head = bytes(data[pos : pos + 8])
        if len(head) < 8:
            ctx.corrupt(f"the data of storage {key} is missing: the file is truncated")
        (count,) = struct.unpack("<q", head)
        if count * _element_size(dtype) != nbytes:
            ctx.corrupt(
                f"storage {key} holds {count} elements, its tensors need {nbytes // _element_size(dtype)}"
            )
        if pos + 8 + nbytes > len(data):
            ctx.corrupt(f"the data of storage {key} is cut short: the file is truncated")
        layout[key] = (pos + 8, nbytes)
        pos += 8 + nbytes
    return layout


def _unpickle_legacy_main(
    data, ctx, start: int, declared: dict, storages: dict | None, on_storage=None
) -> Any:
    """The main pickle, storages from ``storages`` (None: the meta sizing pass). ``on_storage(key, storage,
    offset)`` sees every storage handed out (``inspector verify`` maps tensors back to their storage key)."""
    import torch

    views: dict[str, Any] = {}

    def persistent_load(pid):
        if not isinstance(pid, tuple) or not pid:
            raise Refused("a persistent id that is not a tuple")
        kind = _text(pid[0])
        if kind == "module":  # (module, type, file, source): the class only; torch would check sources
            return pid[1] if len(pid) > 1 else None
        if kind != "storage" or len(pid) != 6:
            raise Refused(f"a persistent id of kind {kind!r}")
        _, storage_type, root_key, location, count, view = pid
        dtype = _storage_dtype(storage_type)
        root_key, location = _text(root_key), _text(location)
        nbytes = integer(count, "a storage's size") * _element_size(dtype)
        if nbytes > len(data) and (storages is not None or nbytes > MAX_META_BYTES):
            raise Refused(f"storage {root_key} declares {nbytes:,} bytes, more than the whole file")
        if storages is None:  # (a storage larger than the file: a placeholder, named by its tensors after)
            declared.setdefault(root_key, (dtype, nbytes))
            root = torch.UntypedStorage(nbytes, device="meta")
        else:
            root = storages[root_key]
            if location and location != "cpu":
                ctx.devices[root.data_ptr()] = location
        if view is not None:
            view_key, offset, size = one_of(view, (tuple,), "a storage view")
            size_bytes = integer(size, "a view's size") * _element_size(dtype)
            offset_bytes = integer(offset, "a view's offset") * _element_size(dtype)
            if offset_bytes + size_bytes > nbytes:
                raise Refused("a storage view past the end of its storage")
            key = _text(view_key)
            if key not in views:
                views[key] = root[offset_bytes : offset_bytes + size_bytes]
                if on_storage is not None:
                    on_storage(root_key, views[key], offset_bytes)
            root = views[key]
        elif on_storage is not None:
            on_storage(root_key, root, 0)
        return torch.storage.TypedStorage(wrap_storage=root, dtype=dtype, _internal=True)

    obj, _ = unpickle(data, ctx, start, persistent_load)
    return obj


# -- pre-0.4 tar --------------------------------------------------------------------------------------------
def read_legacy_tar(source: ByteSource, ctx) -> Any:
    members = _tar_members(source, ctx)
    storages = _tar_storages(members["storages"], ctx)
    tensors = _tar_tensors(members["tensors"], storages, ctx)

    def persistent_load(pid):
        if isinstance(pid, tuple):
            return pid[0] if pid else None  # (type, file, source): the class only
        try:
            return tensors[int(pid)]
        except (KeyError, ValueError, TypeError):
            raise Refused(f"tensor {pid!r} is not in the file") from None

    obj, _ = unpickle(members["pickle"], ctx, 0, persistent_load)
    return obj


def _tar_members(source: ByteSource, ctx) -> dict[str, bytes]:
    try:
        with tarfile.open(fileobj=io.BytesIO(bytes(source.data)), mode="r:") as tar:
            found = {m.name: m for m in tar.getmembers()}
            out = {}
            for name in TAR_MEMBERS:
                member = found.get(name)
                if member is None:
                    ctx.corrupt(f"tar member {name!r} is missing")
                if not member.isfile() or member.issparse() or member.size > len(source):
                    ctx.refuse(f"tar member {name!r} is a link, a device or a sparse file, not plain data")
                out[name] = tar.extractfile(member).read()
            return out
    except (tarfile.TarError, OSError, EOFError) as exc:
        ctx.corrupt(exc)


def _tar_storages(data: bytes, ctx) -> dict[int, Any]:
    count, pos = unpickle(data, ctx, 0)
    integer(count, "the number of storages", 0, ctx.limits.max_entries)
    storages: dict[int, Any] = {}
    for _ in range(count):
        args, pos = unpickle(data, ctx, pos)
        key, _location, storage_type = one_of(args, (tuple,), "a storage header")
        dtype = _storage_dtype(storage_type)
        head = data[pos : pos + 8]
        if len(head) < 8:
            ctx.corrupt("storage data is missing")
        (elements,) = struct.unpack("<q", head)
        nbytes = integer(elements, "a storage's size") * _element_size(dtype)
        if pos + 8 + nbytes > len(data):
            ctx.corrupt("storage data is cut short: the file is truncated")
        storages[_key(key)] = (storage_from_bytes(data[pos + 8 : pos + 8 + nbytes]), dtype)
        pos += 8 + nbytes
    views, _ = unpickle(data, ctx, pos)
    for view in one_of(views, (list, tuple), "storage views"):
        target, root, offset, elements = one_of(view, (tuple, list), "a storage view")
        base, dtype = storages.get(_key(root), (None, None))
        if base is None:
            ctx.corrupt("a storage view of a missing storage")
        start = integer(offset, "a view's offset") * _element_size(dtype)
        end = start + integer(elements, "a view's size") * _element_size(dtype)
        if end > base.nbytes():
            ctx.refuse("a storage view past the end of its storage")
        storages[_key(target)] = (base[start:end], dtype)
    return storages


def _tar_tensors(data: bytes, storages: dict, ctx) -> dict[int, Any]:
    import torch

    count, pos = unpickle(data, ctx, 0)
    integer(count, "the number of tensors", 0, ctx.limits.max_entries)
    tensors: dict[int, Any] = {}
    for _ in range(count):
        args, pos = unpickle(data, ctx, pos)
        key, storage_id, _type = one_of(args, (tuple,), "a tensor header")
        storage, dtype = storages.get(_key(storage_id), (None, None))
        if storage is None:
            ctx.corrupt("a tensor of a missing storage")
        head = data[pos : pos + 8]
        if len(head) < 8:
            ctx.corrupt("a tensor header is cut short")
        (ndim,) = struct.unpack("<i", head[:4])
        integer(ndim, "a tensor's dimension count", 0, 65)
        body = data[pos + 8 : pos + 8 + 16 * ndim + 8]
        if len(body) < 16 * ndim + 8:
            ctx.corrupt("a tensor header is cut short")
        size = ints(struct.unpack(f"<{ndim}q", body[: 8 * ndim]), "a tensor's size")
        stride = ints(struct.unpack(f"<{ndim}q", body[8 * ndim : 16 * ndim]), "a tensor's stride")
        (offset,) = struct.unpack("<q", body[16 * ndim :])
        integer(offset, "a tensor's offset")
        check_view_in_storage(storage.nbytes(), _element_size(dtype), offset, size, stride, "a tensor")
        tensors[_key(key)] = torch.empty((0,), dtype=dtype).set_(storage, offset, size, stride)
        pos += 8 + 16 * ndim + 8
    return tensors


def _key(value) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
