"""Read any pickle without running code from it: tensors are rebuilt, every other global becomes an inert stub.

``torch.load(weights_only=True)`` refuses files that reference anything beyond tensors and plain containers
(a whole pickled ``nn.Module``, custom classes, numpy arrays). Such files are still listed, the way Netron does
it: :class:`RestrictedUnpickler` resolves globals from an allowlist (torch's own weights-only allowlist plus
numpy's array rebuilders and harmless builtins) and turns every other global into a :class:`Stub` class that
records its name and the arguments and state it is given. Nothing the file names is imported or called, so an
``nn.Module``'s tree (``_modules``, ``_parameters``, ``_buffers``) and every tensor are recovered while the
model's own code never runs.

Every referenced global is recorded; :func:`dangerous_globals` names those that could only be there to run
code (``os.system``, ``builtins.eval``...), and the loader refuses such files.

:func:`make_pickle_module` wraps the unpickler as a ``pickle_module`` for ``torch.load``, so torch keeps doing
what it does well (zip records, ``mmap``, storages, legacy formats).
"""

from __future__ import annotations

import io
import pickle
import types
from typing import Any

# Modules whose every global is a way to reach the system or run code when a pickle calls it.
DANGEROUS_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "pty", "runpy", "importlib", "pickle",
        "_pickle", "marshal", "ctypes", "code", "codeop", "webbrowser", "multiprocessing", "signal", "asyncio",
        "pdb", "bdb", "commands", "popen2", "requests", "urllib", "urllib2", "urllib3", "http", "ftplib",
        "telnetlib", "smtplib", "io", "_io", "tempfile", "glob", "zipimport", "pkgutil", "site", "_thread",
        "threading", "timeit", "trace", "profile", "cProfile", "pydoc", "doctest", "dill", "cloudpickle",
        "joblib", "gc", "ensurepip", "venv", "pip", "setuptools", "distutils", "imp", "_posixsubprocess", "mmap",
        "resource", "fcntl", "termios", "sqlite3", "shelve", "dbm", "inspect",
    }
)  # fmt: skip
# Builtins that evaluate code, reach attributes by name (the usual gadget) or open files.
DANGEROUS_BUILTINS = frozenset(
    {
        "eval", "exec", "compile", "getattr", "setattr", "delattr", "__import__", "open", "input", "breakpoint",
        "globals", "locals", "vars", "exit", "quit", "apply", "execfile", "file", "reload",
    }
)  # fmt: skip
# Single names (or name prefixes) elsewhere that call arbitrary code or load further files.
DANGEROUS_PREFIXES = (
    "operator.attrgetter", "operator.methodcaller", "_operator.attrgetter", "_operator.methodcaller",
    "types.FunctionType", "types.CodeType", "types.MethodType", "types.LambdaType", "types.ModuleType",
    "torch.hub", "torch.jit", "torch.load", "torch.save", "torch.ops", "torch.distributed", "torch.multiprocessing",
    "torch.utils.cpp_extension", "torch.package", "torch._C._jit", "torch.serialization.load",
    "numpy.testing", "numpy.f2py", "numpy.distutils", "numpy.load", "numpy.lib.npyio", "numpy.ctypeslib",
)  # fmt: skip

SAFE_BUILTINS = frozenset(
    {"set", "frozenset", "slice", "complex", "bytearray", "bytes", "list", "dict", "tuple", "int", "float",
     "str", "bool", "range", "NoneType", "Ellipsis", "NotImplemented"}
)  # fmt: skip
SAFE_GLOBALS = {
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("collections", "deque"),
    ("collections", "Counter"),
    ("_codecs", "encode"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "time"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("decimal", "Decimal"),
    ("fractions", "Fraction"),
}


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


class Stub:
    """Inert stand-in for a class or function named by the file.

    Calling it, ``__new__``, ``__setstate__``, item and append calls only record what they were given:
    ``stub_args``, ``stub_state``, ``stub_items``, ``stub_list``. ``stub_name`` is the referenced global.
    """

    stub_name = "?"

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.__dict__.update(stub_args=args, stub_kwargs=kwargs, stub_state=None, stub_items={}, stub_list=[])
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.__dict__["stub_state"] = state

    def __setitem__(self, key, value):
        self.stub_items[key] = value

    def __getitem__(self, key):
        return self.stub_items[key]

    def append(self, value):
        self.stub_list.append(value)

    def extend(self, values):
        self.stub_list.extend(values)

    def __call__(self, *args, **kwargs):
        return _stub_class(f"{self.stub_name}()")(*args, **kwargs)

    def __repr__(self):
        return f"<{self.stub_name}>"

    @property
    def state_dict_like(self) -> dict | None:
        """The object's attribute dict (``__setstate__``/BUILD state or ``__dict__`` pairs), if any."""
        state = self.stub_state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict | type(None)):
            merged = dict(state[0] or {})
            merged.update(state[1] or {})
            return merged
        if isinstance(state, dict):
            return state
        if self.stub_kwargs:
            return dict(self.stub_kwargs)
        return None


def _stub_class(qualified_name: str) -> type[Stub]:
    return type(qualified_name.rpartition(".")[2] or "Stub", (Stub,), {"stub_name": qualified_name})


def is_stub(obj: Any) -> bool:
    return isinstance(obj, Stub) or (isinstance(obj, type) and issubclass(obj, Stub))


def stub_module_state(obj: Any) -> dict | None:
    """The attribute dict of a stubbed ``nn.Module`` (it has ``_modules`` and ``_parameters``), else None."""
    if isinstance(obj, Stub):
        state = obj.state_dict_like
        if isinstance(state, dict) and "_modules" in state and "_parameters" in state:
            return state
    return None


def _safe_reconstructor(cls, base, state):
    """``copyreg._reconstructor`` for protocol-0/1 pickles of dict/list subclasses, without calling cls."""
    if is_stub(cls):
        obj = cls.__new__(cls)
        if isinstance(state, dict):
            obj.stub_items.update(state)
        return obj
    return base(state) if state is not None else base()


def _safe_rebuild_from_type_v2(func, new_type, args, state):
    import torch

    if is_stub(new_type):
        return func(*args)  # a tensor subclass we will not import: keep the plain tensor
    return torch._tensor._rebuild_from_type_v2(func, new_type, args, state)


def _safe_rebuild_wrapper_subclass(cls, dtype, size, stride, storage_offset, layout, device, requires_grad):
    import torch

    return torch.empty_strided(size, stride, dtype=dtype, device="meta")


def _allowed_globals() -> dict[str, Any]:
    import builtins
    import importlib

    import numpy as np
    import torch
    from torch import _weights_only_unpickler

    allowed = dict(_weights_only_unpickler._get_allowed_globals())
    allowed.update({f"builtins.{n}": getattr(builtins, n) for n in SAFE_BUILTINS if hasattr(builtins, n)})
    allowed["builtins.NoneType"] = type(None)
    for module, name in SAFE_GLOBALS:
        allowed[f"{module}.{name}"] = getattr(importlib.import_module(module), name)
    try:  # numpy 2 moved the array rebuilders; old pickles still name numpy.core
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[f"{module}._reconstruct"] = multiarray._reconstruct
        allowed[f"{module}.scalar"] = multiarray.scalar
    allowed["numpy.ndarray"] = np.ndarray
    allowed["numpy.dtype"] = np.dtype
    for dtype_name in dir(getattr(np, "dtypes", None)):
        obj = getattr(np.dtypes, dtype_name)
        if isinstance(obj, type) and issubclass(obj, np.dtype):
            allowed[f"numpy.dtypes.{dtype_name}"] = obj
    allowed["copyreg._reconstructor"] = _safe_reconstructor
    allowed["torch._tensor._rebuild_from_type_v2"] = _safe_rebuild_from_type_v2
    allowed["torch._utils._rebuild_wrapper_subclass"] = _safe_rebuild_wrapper_subclass
    allowed["torch.storage._load_from_bytes"] = _safe_load_from_bytes
    allowed["torch.nn.parameter.Parameter"] = torch.nn.Parameter
    # TorchScript's pickler tags typed containers; the tag functions only return their argument
    allowed["torch.jit._pickle.restore_type_tag"] = lambda value, type_str=None: value
    for name in (
        "build_intlist",
        "build_tensorlist",
        "build_doublelist",
        "build_boollist",
        "build_complexlist",
    ):
        allowed[f"torch.jit._pickle.{name}"] = list
    return allowed


_ALLOWED: dict[str, Any] | None = None


def allowed_globals() -> dict[str, Any]:
    global _ALLOWED
    if _ALLOWED is None:
        _ALLOWED = _allowed_globals()
    return _ALLOWED


class GlobalsRecord:
    """Every global a file referenced, split into those resolved from the allowlist and the stubbed ones."""

    def __init__(self):
        self.allowed: set[str] = set()
        self.stubbed: set[str] = set()

    @property
    def all(self) -> list[str]:
        return sorted(self.allowed | self.stubbed)

    @property
    def dangerous(self) -> list[str]:
        return dangerous_globals(self.stubbed)


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allowlisted globals and stubs every other one (see module docstring)."""

    record: GlobalsRecord = GlobalsRecord()

    def find_class(self, module: str, name: str):
        if module == "__builtin__":
            module = "builtins"
        qualified = f"{module}.{name}"
        allowed = allowed_globals()
        if qualified in allowed:
            self.record.allowed.add(qualified)
            return allowed[qualified]
        self.record.stubbed.add(qualified)
        return _stub_class(qualified)


def make_pickle_module(record: GlobalsRecord) -> types.SimpleNamespace:
    """A ``pickle_module`` for ``torch.load`` whose unpickler records into ``record``."""

    class _Unpickler(RestrictedUnpickler):
        pass

    _Unpickler.record = record

    def load(file, **kwargs):
        return _Unpickler(file, **kwargs).load()

    def loads(data, **kwargs):
        return _Unpickler(io.BytesIO(data), **kwargs).load()

    return types.SimpleNamespace(
        __name__="inspector_restricted_pickle",
        Unpickler=_Unpickler,
        load=load,
        loads=loads,
        UnpicklingError=pickle.UnpicklingError,
    )


_CURRENT_RECORD: list[GlobalsRecord] = []


def _safe_load_from_bytes(data: bytes):
    """``torch.storage._load_from_bytes`` (plain-pickled tensors) re-entered through the restricted path."""
    import torch

    record = _CURRENT_RECORD[-1] if _CURRENT_RECORD else GlobalsRecord()
    return torch.load(  # weights_only=False with the restricted pickle_module: nothing from the file runs
        io.BytesIO(data), map_location="cpu", weights_only=False, pickle_module=make_pickle_module(record)
    )


class recording:
    """Context manager that routes nested loads (``_load_from_bytes``) to the same record."""

    def __init__(self, record: GlobalsRecord):
        self.record = record

    def __enter__(self):
        _CURRENT_RECORD.append(self.record)
        return self.record

    def __exit__(self, *exc):
        _CURRENT_RECORD.pop()
        return False


def restricted_loads(data: bytes | io.IOBase, record: GlobalsRecord) -> Any:
    """Unpickle a plain (non-torch) pickle stream with the restricted unpickler."""
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    module = make_pickle_module(record)
    with recording(record):
        return module.Unpickler(stream, encoding="latin1").load()
