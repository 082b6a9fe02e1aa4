"""Unpickle without running code: every opcode that could call, build or mutate is checked by us.

Python's C unpickler calls whatever a pickle names, builds any class with ``NEWOBJ_EX`` and runs ``BUILD``
(``__setstate__`` or ``__dict__.update``) on any object; reusing torch's weights-only allowlist under it was
how a file could dereference a pointer (``torch.Tensor(cdata=...)``) or rewrite a function's defaults for the
whole process. :class:`SafeUnpickler` runs on the pure-Python unpickler instead and replaces those opcodes:

- globals resolve through :mod:`inspector.core.checkpoint.allowlist` (constants, type references, checked
  calls) or become inert stubs (:mod:`inspector.core.checkpoint.stubs`); dangerous names are refused;
- ``REDUCE``/``NEWOBJ``/``NEWOBJ_EX``/``INST``/``OBJ`` call only checked functions and stubs;
- ``BUILD`` applies only to stubs and to the numpy dtype/array this load has just made (checked state);
  ``OrderedDict`` state (torch's ``_metadata``) is kept only when it shadows nothing;
- ``APPEND``/``SETITEM``/``ADDITEMS`` go only into plain lists, dicts, sets and stubs;
- ``BYTEARRAY8`` is checked against the bytes left before anything is allocated.

Every stream is scanned first (:mod:`inspector.core.checkpoint.pickle_scan`); what one load records (globals
met) lives in its :class:`GlobalsRecord`, passed down, never in module state.
"""

from __future__ import annotations

import _compat_pickle
import collections
import pickle
import struct
from typing import Any

from inspector.core.checkpoint.allowlist import (
    Constant,
    Refused,
    SafeCall,
    TypeRef,
    allowlist,
    dangerous_globals,
    is_dangerous,
)
from inspector.core.checkpoint.stubs import Stub, is_stub, stub_class
from inspector.core.jobs import cancel_point


class GlobalsRecord:
    """Every global one load's pickles referenced: resolved from the allowlist, or stubbed."""

    def __init__(self):
        self.allowed: set[str] = set()
        self.stubbed: set[str] = set()

    def add_scanned(self, names) -> None:
        table = allowlist()
        for name in names:
            (self.allowed if name in table else self.stubbed).add(name)

    @property
    def all(self) -> list[str]:
        return sorted(self.allowed | self.stubbed)

    @property
    def dangerous(self) -> list[str]:
        return dangerous_globals(self.stubbed)


class BoundedReader:
    """A file-like view of bytes (``bytes``, ``mmap``...) from ``start``: ``read(n)`` returns at most what is
    there, so a length a pickle declares never allocates more than the data holds."""

    def __init__(self, data, start: int = 0, end: int | None = None):
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.end - self.pos
        stop = min(self.pos + n, self.end)
        chunk = bytes(self.data[self.pos : stop])
        self.pos = stop
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def readline(self) -> bytes:
        found = self.data.find(b"\n", self.pos, self.end)
        return self.read((found + 1 - self.pos) if found >= 0 else -1)

    def peek(self, n: int = 1) -> bytes:
        return bytes(self.data[self.pos : min(self.pos + n, self.end)])

    def tell(self) -> int:
        return self.pos

    def remaining(self) -> int:
        return self.end - self.pos


_LISTS = (list, collections.deque)
_DICTS = (dict, collections.OrderedDict, collections.defaultdict, collections.Counter)
_ORDERED_DICT_ATTRS = frozenset(dir(collections.OrderedDict))


class SafeUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with every building opcode checked (see module docstring).

    ``ctx`` is the load's :class:`~inspector.core.checkpoint.read_context.ReadContext`: it carries the record,
    the fresh numpy objects BUILD may touch, and the nested loader for ``_load_from_bytes``.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, reader: BoundedReader, ctx, persistent_load=None):
        super().__init__(reader, encoding="utf-8", errors="surrogateescape")
        self.reader = reader
        self.ctx = ctx
        if persistent_load is not None:
            self.persistent_load = persistent_load

    # -- globals ------------------------------------------------------------------------------------------
    def find_class(self, module: str, name: str):
        if not isinstance(module, str) or not isinstance(name, str):
            raise Refused("a global whose name is not text")
        if self.proto < 3:  # Python 2 names (__builtin__, copy_reg)
            module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        qualified = f"{module}.{name}"
        table = allowlist()
        if qualified in table:
            self.ctx.record.allowed.add(qualified)
            entry = table[qualified]
            return entry.value if isinstance(entry, Constant) else entry
        if is_dangerous(qualified):
            raise Refused(f"the pickle references {qualified}")
        self.ctx.record.stubbed.add(qualified)
        return stub_class(qualified)

    # -- calls ----------------------------------------------------------------------------------------------
    def _call(self, func, args, kwargs=None):
        kwargs = kwargs or {}
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise Refused("a call whose arguments are not a tuple")
        if isinstance(func, SafeCall):
            try:
                return func.fn(self.ctx, *args, **kwargs)
            except TypeError as exc:  # wrong number of arguments
                raise Refused(f"{func.name}: {exc}") from None
        if is_stub(func):
            return func(*args, **kwargs)
        raise Refused(f"the pickle calls {_describe(func)}, which no checkpoint needs")

    def _new(self, cls, args, kwargs=None):
        if isinstance(cls, SafeCall) and cls.newobj and not args and not kwargs:
            return cls.fn(self.ctx)
        if isinstance(cls, type) and issubclass(cls, Stub):
            return cls.__new__(cls, *args, **(kwargs or {}))
        raise Refused(f"the pickle builds {_describe(cls)}, which no checkpoint needs")

    def load_reduce(self):
        cancel_point()  # one call per tensor or object built: a stop request ends a long unpickle here
        args = self.stack.pop()
        self.stack[-1] = self._call(self.stack[-1], args)

    def load_newobj(self):
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args))

    def load_newobj_ex(self):
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self.append(self._new(cls, args, kwargs))

    def load_inst(self):
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        klass = self.find_class(module, name)
        self.append(self._call(klass, tuple(self.pop_mark())))

    def load_obj(self):
        args = self.pop_mark()
        if not args:
            raise Refused("OBJ without a class")
        self.append(self._call(args[0], tuple(args[1:])))

    # -- state and items ----------------------------------------------------------------------------------
    def load_build(self):
        state = self.stack.pop()
        inst = self.stack[-1]
        if isinstance(inst, Stub):
            inst.__setstate__(state)
        elif self.ctx.take_fresh(inst):
            import numpy as np

            from inspector.core.checkpoint.allowlist_torch import build_numpy_array, build_numpy_dtype

            (build_numpy_dtype if isinstance(inst, np.dtype) else build_numpy_array)(inst, state)
        elif type(inst) is collections.OrderedDict and isinstance(state, dict):
            for key, value in state.items():  # torch's state dicts carry ``_metadata`` this way
                if not isinstance(key, str) or key in _ORDERED_DICT_ATTRS or key.startswith("__"):
                    raise Refused(f"OrderedDict state {key!r} would shadow its methods")
                inst.__dict__[key] = value
        else:
            raise Refused(f"the pickle sets the state of {_describe(inst)}")

    def load_append(self):
        value = self.stack.pop()
        _appendable(self.stack[-1]).append(value)

    def load_appends(self):
        items = self.pop_mark()
        target = _appendable(self.stack[-1])
        for item in items:
            target.append(item)

    def load_setitem(self):
        value = self.stack.pop()
        key = self.stack.pop()
        _mapping(self.stack[-1])[key] = value

    def load_setitems(self):
        items = self.pop_mark()
        target = _mapping(self.stack[-1])
        for i in range(0, len(items) - 1, 2):
            target[items[i]] = items[i + 1]

    def load_additems(self):
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise Refused("ADDITEMS into something that is not a set")
        target.update(items)

    def load_bytearray8(self):
        (size,) = struct.unpack("<Q", self.read(8))
        if size > self.reader.remaining():
            raise pickle.UnpicklingError("BYTEARRAY8 longer than the data left")
        self.append(bytearray(self.read(size)))

    def load_persid(self):
        try:
            pid = self.readline()[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise pickle.UnpicklingError("persistent IDs in protocol 0 must be ASCII strings") from None
        self.append(self.persistent_load(pid))

    def load_binpersid(self):
        self.append(self.persistent_load(self.stack.pop()))

    def persistent_load(self, pid):
        raise Refused("a persistent id outside a torch file")

    for _op, _method in (
        (pickle.REDUCE, load_reduce), (pickle.NEWOBJ, load_newobj), (pickle.NEWOBJ_EX, load_newobj_ex),
        (pickle.INST, load_inst), (pickle.OBJ, load_obj), (pickle.BUILD, load_build),
        (pickle.APPEND, load_append), (pickle.APPENDS, load_appends), (pickle.SETITEM, load_setitem),
        (pickle.SETITEMS, load_setitems), (pickle.ADDITEMS, load_additems),
        (pickle.BYTEARRAY8, load_bytearray8), (pickle.PERSID, load_persid), (pickle.BINPERSID, load_binpersid),
    ):  # fmt: skip
        dispatch[_op[0]] = _method
    for _op in (pickle.EXT1, pickle.EXT2, pickle.EXT4, pickle.NEXT_BUFFER, pickle.READONLY_BUFFER):
        dispatch.pop(_op[0], None)  # refused by the scan; an unknown opcode here too
    del _op, _method


def _appendable(target):
    if type(target) in _LISTS or isinstance(target, Stub):
        return target
    raise Refused(f"APPEND into {_describe(target)}")


def _mapping(target):
    if type(target) in _DICTS or isinstance(target, Stub):
        return target
    raise Refused(f"SETITEM into {_describe(target)}")


def _describe(obj: Any) -> str:
    if isinstance(obj, SafeCall | TypeRef):
        return obj.name
    if is_stub(obj):
        return getattr(obj, "stub_name", "a stub")
    return f"a {type(obj).__name__}"


def unpickle(data, ctx, start: int = 0, persistent_load=None) -> tuple[Any, int]:
    """Scan then unpickle the stream at ``data[start:]``; returns (object, offset past its STOP).

    Refusals from the scan or from a checked call become :class:`InspectorError`/``UnsafeCheckpointError``
    naming ``ctx.path``; a malformed stream becomes the usual "truncated or corrupt" message.
    """
    from inspector.core.checkpoint.pickle_scan import scan_pickle

    scan = scan_pickle(data, ctx.path, ctx.limits, start)
    ctx.record.add_scanned(scan.globals)
    ctx.refuse_dangerous()
    reader = BoundedReader(data, start, scan.end)
    unpickler = SafeUnpickler(reader, ctx, persistent_load)
    try:
        obj = unpickler.load()
    except Refused as exc:
        ctx.refuse(str(exc))
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, UnicodeDecodeError, RecursionError, MemoryError) as exc:  # fmt: skip
        ctx.corrupt(exc)
    return obj, scan.end
