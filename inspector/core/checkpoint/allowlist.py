"""The globals an untrusted pickle may use, each with the argument shapes it accepts; all others are stubs.

Real checkpoints need very little: tensor and parameter rebuilders, storage types and dtypes, a few containers
(``OrderedDict``, ``set``), numpy's array rebuilders for numpy values, paths and dates in hyper-parameters.
Each entry here is one of:

- :class:`Constant`: a value handed out as is (``torch.float32``, ``torch.per_tensor_affine``), never callable;
- :class:`TypeRef`: a class named as an argument (``torch.Tensor`` in ``_rebuild_from_type_v2``, a storage
  type in a persistent id), never called or built;
- :class:`SafeCall`: our own function that checks its arguments (types, sizes, bounds against the storage)
  *before* calling the real thing, and refuses with :class:`Refused` otherwise.

Nothing here is ever the object of a ``BUILD`` (the unpickler allows BUILD only on stubs and on the numpy
objects it just made), so no file can change a function or class for the rest of the process.
``tests/test_allowlist.py`` asserts the list, so growing it is a visible decision.

Names that can only be there to run code (``os.system``, ``builtins.eval``, ``subprocess``...) are
:func:`is_dangerous`: the scan refuses a file that names one, before anything is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inspector.core.checkpoint.stubs import Stub, is_stub, stub_attribute

# Modules whose every global is a way to reach the system or run code when a pickle calls it.
DANGEROUS_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "pty", "runpy", "importlib", "pickle",
        "_pickle", "marshal", "ctypes", "code", "codeop", "webbrowser", "multiprocessing", "signal", "asyncio",
        "pdb", "bdb", "commands", "popen2", "requests", "urllib", "urllib2", "urllib3", "http", "ftplib",
        "telnetlib", "smtplib", "io", "_io", "tempfile", "glob", "zipimport", "pkgutil", "site", "_thread",
        "threading", "timeit", "trace", "profile", "cProfile", "pydoc", "doctest", "dill", "cloudpickle",
        "joblib", "gc", "ensurepip", "venv", "pip", "setuptools", "distutils", "imp", "_posixsubprocess", "mmap",
        "resource", "fcntl", "termios", "sqlite3", "shelve", "dbm", "inspect", "posixpath", "ntpath",
    }
)  # fmt: skip
# Builtins that evaluate code, reach attributes by name on real objects (the usual gadget) or open files.
# ``getattr`` is not here: on a stub it yields a stub (see ``_getattr``), on anything real it is refused.
DANGEROUS_BUILTINS = frozenset(
    {
        "eval", "exec", "compile", "setattr", "delattr", "__import__", "open", "input", "breakpoint",
        "globals", "locals", "vars", "exit", "quit", "apply", "execfile", "file", "reload",
    }
)  # fmt: skip
# Single names (or name prefixes) elsewhere that call arbitrary code or load further files.
DANGEROUS_PREFIXES = (
    "operator.attrgetter", "operator.methodcaller", "operator.itemgetter", "_operator",
    "functools.partial", "functools.reduce", "types.FunctionType", "types.CodeType", "types.MethodType",
    "types.LambdaType", "types.ModuleType", "torch.hub", "torch.jit.load", "torch.jit._serialization",
    "torch.load", "torch.save", "torch.from_file", "torch.ops", "torch.distributed", "torch.multiprocessing",
    "torch.utils.cpp_extension", "torch.package", "torch._C._jit", "torch.serialization.load",
    "torch._C._import_ir_module", "torch.classes", "torch._dynamo", "torch._inductor",
    "numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.load", "numpy.lib.npyio", "numpy.ctypeslib",
    "numpy.fromfile", "numpy.memmap", "numpy.lib.format",
)  # fmt: skip


def is_dangerous(qualified_name: str) -> bool:
    """True when a global could only be referenced to run code or reach the system."""
    module, _, name = qualified_name.rpartition(".")
    root = module.split(".")[0]
    if root in ("builtins", "__builtin__"):
        return name in DANGEROUS_BUILTINS
    if root in DANGEROUS_MODULES:
        return True
    return any(qualified_name == p or qualified_name.startswith(p + ".") for p in DANGEROUS_PREFIXES)


def dangerous_globals(names) -> list[str]:
    return sorted(n for n in names if is_dangerous(n))


class Refused(Exception):
    """A pickle asked an allowlisted global for something outside the shapes it accepts."""


@dataclass(frozen=True)
class Constant:
    name: str
    value: Any


@dataclass(frozen=True)
class TypeRef:
    """A class the pickle names as an argument; ``value`` is the real class (for ``isinstance`` checks)."""

    name: str
    value: Any
    dtype: Any = None  # storage types: their element type


@dataclass(frozen=True)
class SafeCall:
    """``fn(ctx, *args, **kwargs)`` after its own checks; ``newobj`` allows ``cls.__new__(cls)`` with no args."""

    name: str
    fn: Callable[..., Any]
    newobj: bool = False


# -- argument checks ----------------------------------------------------------------------------------------
MAX_DIMS = 64
MAX_DIM = 1 << 62


def ints(value: Any, what: str, count: int | None = None) -> tuple[int, ...]:
    """A tuple of non-negative ints (a shape or strides), at most ``MAX_DIMS`` long."""
    if not isinstance(value, tuple | list) or len(value) > MAX_DIMS:
        raise Refused(f"{what} must be a short tuple of integers")
    out = tuple(value)
    if not all(type(v) is int and 0 <= v < MAX_DIM for v in out):
        raise Refused(f"{what} must hold non-negative integers")
    if count is not None and len(out) != count:
        raise Refused(f"{what} has {len(out)} entries, expected {count}")
    return out


def integer(value: Any, what: str, low: int = 0, high: int = MAX_DIM) -> int:
    if type(value) is not int or not low <= value < high:
        raise Refused(f"{what} must be an integer in [{low}, {high})")
    return value


def one_of(value: Any, kinds: tuple, what: str) -> Any:
    if not isinstance(value, kinds):
        raise Refused(f"{what} has the wrong type ({type(value).__name__})")
    return value


def check_view_in_storage(nbytes: int, element_size: int, offset: int, size, stride, what: str) -> None:
    """Refuse a view that reads outside its storage (the elements it addresses must all be stored)."""
    if any(s == 0 for s in size):
        return
    last = offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True))
    if (last + 1) * element_size > nbytes:
        raise Refused(
            f"{what} reads past the end of its storage ({(last + 1) * element_size} > {nbytes} bytes)"
        )


def numel(size) -> int:
    return math.prod(size) if size else 1


# -- builtins and plain containers --------------------------------------------------------------------------
def _set(ctx, items=()):
    return set(one_of(items, (list, tuple, set, frozenset), "set()'s argument"))


def _frozenset(ctx, items=()):
    return frozenset(one_of(items, (list, tuple, set, frozenset), "frozenset()'s argument"))


def _bytearray(ctx, data=b"", *rest):
    return bytearray(one_of(data, (bytes, bytearray), "bytearray()'s argument"))


def _complex(ctx, real=0.0, imag=0.0):
    one_of(real, (int, float), "complex()'s real part")
    one_of(imag, (int, float), "complex()'s imaginary part")
    return complex(real, imag)


def _slice(ctx, *args):
    if len(args) > 3 or not all(a is None or type(a) is int for a in args):
        raise Refused("slice() takes up to three integers")
    return slice(*args)


def _encode(ctx, text, encoding="latin1"):
    """``_codecs.encode``: how protocol-2 pickles written by Python 3 store bytes."""
    one_of(text, (str,), "_codecs.encode's text")
    if str(encoding).lower().replace("_", "-") not in (
        "latin1",
        "latin-1",
        "iso-8859-1",
        "ascii",
        "utf-8",
        "utf8",
    ):
        raise Refused("_codecs.encode only decodes text codecs")
    return text.encode(encoding)


def _ordered_dict(ctx, items=()):
    import collections

    return collections.OrderedDict(one_of(items, (list, tuple, dict), "OrderedDict()'s argument"))


def _defaultdict(ctx, factory=None, items=()):
    import collections

    kinds = {f"builtins.{k.__name__}": k for k in (list, dict, set, int, float, str, tuple)}
    # the factory is only ever a builtin container; a stub or anything else: keep the contents, never call it
    factory = kinds.get(factory.name) if isinstance(factory, SafeCall | TypeRef) else None
    return collections.defaultdict(factory, one_of(items, (list, tuple, dict), "defaultdict()'s items"))


def _counter(ctx, items=()):
    import collections

    return collections.Counter(one_of(items, (dict, list, tuple), "Counter()'s argument"))


def _deque(ctx, items=(), maxlen=None):
    import collections

    if maxlen is not None:
        integer(maxlen, "deque maxlen")
    return collections.deque(one_of(items, (list, tuple), "deque()'s argument"), maxlen)


def _plain(kind: type) -> Callable[..., Any]:
    """``list(x)``, ``tuple(x)``, ``dict(x)``: copies of what the pickle already built."""

    def make(ctx, items=()):
        return kind(one_of(items, (list, tuple, dict, set, frozenset), f"{kind.__name__}()'s argument"))

    return make


def _scalar_builtin(kind: type) -> Callable[..., Any]:
    def make(ctx, value=0, *rest):
        one_of(value, (int, float, str, bytes, bool), f"{kind.__name__}()'s argument")
        if isinstance(value, str | bytes) and len(value) > 4300:
            raise Refused(f"{kind.__name__}() of a {len(value)}-character string")
        try:
            return kind(value, *rest[:1]) if kind is int and rest else kind(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise Refused(f"{kind.__name__}({value!r:.40}): {exc}") from None

    return make


def _getattr(ctx, owner, name, *default):
    """``getattr`` on a stub (a method reference such as Ultralytics' ``Detect.forward``) is one more stub;
    on anything real it would be the classic gadget, so it is refused."""
    if not isinstance(name, str) or not is_stub(owner):
        raise Refused("getattr() on a real object")
    return stub_attribute(owner, name)


def _reconstructor(ctx, cls, base, state=None):
    """``copyreg._reconstructor`` (protocol 0/1 objects) without calling anything real."""
    if is_stub(cls):
        obj = cls.__new__(cls)
        if isinstance(state, dict):
            obj.stub_items.update(state)
        return obj
    import collections

    if isinstance(cls, TypeRef) and cls.value in (collections.OrderedDict, dict, list, set):
        return cls.value(state) if state is not None else cls.value()
    raise Refused("copyreg._reconstructor of a real class")


def _path(pure_kind: str) -> Callable[..., Any]:
    """``pathlib.PosixPath(*parts)`` as a pure path: a name, never a file touched."""

    def make(ctx, *parts):
        import pathlib

        if not all(isinstance(p, str) for p in parts):
            raise Refused("a path's parts must be strings")
        return getattr(pathlib, pure_kind)(*parts)

    return make


def _datetime_kind(module: str, name: str) -> Callable[..., Any]:
    def make(ctx, *args):
        import importlib

        if not all(
            isinstance(a, int | float | bytes | str) or a is None or isinstance(a, _tz()) for a in args
        ):
            raise Refused(f"{module}.{name}() takes numbers or bytes")
        try:
            return getattr(importlib.import_module(module), name)(*args)
        except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
            raise Refused(f"{module}.{name}(): {exc}") from None

    return make


def _tz():
    import datetime

    return (datetime.tzinfo, datetime.timedelta)


def _torch_version(ctx, text=""):
    return str(one_of(text, (str,), "TorchVersion's text"))


def _pass_through(ctx, value, *_):
    """TorchScript's pickler tags typed containers; the tag functions only return their argument."""
    return value


def _as_list(ctx, value=()):
    return list(one_of(value, (list, tuple), "a TorchScript list"))


def _table() -> dict[str, Any]:
    from inspector.core.checkpoint import allowlist_torch

    table: dict[str, Any] = {
        "builtins.set": SafeCall("builtins.set", _set),
        "builtins.frozenset": SafeCall("builtins.frozenset", _frozenset),
        "builtins.bytearray": SafeCall("builtins.bytearray", _bytearray),
        "builtins.complex": SafeCall("builtins.complex", _complex),
        "builtins.slice": SafeCall("builtins.slice", _slice),
        "builtins.list": SafeCall("builtins.list", _plain(list), newobj=True),
        "builtins.tuple": SafeCall("builtins.tuple", _plain(tuple)),
        "builtins.dict": SafeCall("builtins.dict", _plain(dict), newobj=True),
        "builtins.int": SafeCall("builtins.int", _scalar_builtin(int)),
        "builtins.float": SafeCall("builtins.float", _scalar_builtin(float)),
        "builtins.str": SafeCall("builtins.str", _scalar_builtin(str)),
        "builtins.bool": SafeCall("builtins.bool", _scalar_builtin(bool)),
        "builtins.getattr": SafeCall("builtins.getattr", _getattr),
        "builtins.object": TypeRef("builtins.object", object),
        "builtins.NoneType": Constant("builtins.NoneType", type(None)),
        "builtins.Ellipsis": Constant("builtins.Ellipsis", Ellipsis),
        "_codecs.encode": SafeCall("_codecs.encode", _encode),
        "copyreg._reconstructor": SafeCall("copyreg._reconstructor", _reconstructor),
        "collections.OrderedDict": SafeCall("collections.OrderedDict", _ordered_dict, newobj=True),
        "collections.defaultdict": SafeCall("collections.defaultdict", _defaultdict),
        "collections.Counter": SafeCall("collections.Counter", _counter),
        "collections.deque": SafeCall("collections.deque", _deque),
        "pathlib.PosixPath": SafeCall("pathlib.PosixPath", _path("PurePosixPath")),
        "pathlib.PurePosixPath": SafeCall("pathlib.PurePosixPath", _path("PurePosixPath")),
        "pathlib.WindowsPath": SafeCall("pathlib.WindowsPath", _path("PureWindowsPath")),
        "pathlib.PureWindowsPath": SafeCall("pathlib.PureWindowsPath", _path("PureWindowsPath")),
        "pathlib.Path": SafeCall("pathlib.Path", _path("PurePosixPath")),
        "torch.torch_version.TorchVersion": SafeCall("torch.torch_version.TorchVersion", _torch_version),
        "torch.jit._pickle.restore_type_tag": SafeCall("torch.jit._pickle.restore_type_tag", _pass_through),
    }
    for name in (
        "build_intlist",
        "build_tensorlist",
        "build_doublelist",
        "build_boollist",
        "build_complexlist",
    ):
        table[f"torch.jit._pickle.{name}"] = SafeCall(f"torch.jit._pickle.{name}", _as_list)
    for module, name in (("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
                         ("datetime", "timedelta"), ("datetime", "timezone"), ("decimal", "Decimal"),
                         ("fractions", "Fraction")):  # fmt: skip
        table[f"{module}.{name}"] = SafeCall(f"{module}.{name}", _datetime_kind(module, name))
    table.update(allowlist_torch.torch_table())
    table.update(allowlist_torch.numpy_table())
    return table


_TABLE: dict[str, Any] | None = None


def allowlist() -> dict[str, Any]:
    """Qualified name -> :class:`Constant` / :class:`TypeRef` / :class:`SafeCall` (built once, never mutated)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _table()
    return _TABLE


def is_safe_target(obj: Any) -> bool:
    """Whether REDUCE/NEWOBJ may call ``obj``: our checked callables and inert stubs only."""
    return isinstance(obj, SafeCall) or is_stub(obj)


__all__ = [
    "Constant", "Refused", "SafeCall", "Stub", "TypeRef", "allowlist", "dangerous_globals", "is_dangerous",
    "check_view_in_storage", "integer", "ints", "numel", "one_of",
]  # fmt: skip
