"""List a TorchScript archive's tensors without ``torch.jit.load``, which would run the archive's code.

A ``torch.jit.save`` archive is a torch zip whose ``data.pkl`` pickles the module tree as objects of classes
``__torch__.<qualified name>`` with their attributes as state; the classes themselves are TorchScript source in
``code/``, where each class declares ``__parameters__`` and ``__buffers__``. We read ``data.pkl`` with the
restricted unpickler (so every object is an inert stub), read those two declarations from the source text, and
reshape each stub into the ``_parameters``/``_buffers``/``_modules`` form of a pickled ``nn.Module``, so the
ordinary module walk in ``inspector.core.checkpoint.listing`` lists it.
"""

from __future__ import annotations

import ast
import io
import re
import zipfile
from typing import Any

from inspector.core.checkpoint.safe_unpickle import GlobalsRecord, Stub, make_pickle_module, recording

_CLASS_RE = re.compile(r"^class (\w+)\(Module\):\n((?:  .*\n|\n)*)", re.MULTILINE)
_MANGLE_RE = re.compile(r"\.___torch_mangle_\d+")  # TorchScript renames classes scripted twice
_DECL_RE = re.compile(r"^  __(parameters|buffers)__ = (\[.*?\])", re.MULTILINE)


def read_declarations(source: str | bytes) -> dict[str, dict[str, list[str]]]:
    """``{"__torch__.pkg.mod.Class": {"parameters": [...], "buffers": [...]}}`` from the archive's code."""
    decls: dict[str, dict[str, list[str]]] = {}
    with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as z:
        for name in z.namelist():
            _, sep, rel = name.partition("/code/")
            if not sep or not rel.endswith(".py"):
                continue
            module = rel[: -len(".py")].replace("/", ".")
            text = z.read(name).decode("utf-8", "replace")
            for class_name, body in _CLASS_RE.findall(text):
                found = {kind: _literal_list(value) for kind, value in _DECL_RE.findall(body)}
                decls[f"{module}.{class_name}"] = {
                    "parameters": found.get("parameters", []),
                    "buffers": found.get("buffers", []),
                }
    return decls


def _literal_list(text: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def load_torchscript_tree(source: str | bytes, record: GlobalsRecord, map_location) -> Any:
    """The archive's module tree as stubs in ``nn.Module`` form (see module docstring)."""
    import torch
    from torch.serialization import _load

    reader = torch._C.PyTorchFileReader(io.BytesIO(source) if isinstance(source, bytes) else source)
    with recording(record):
        tree = _load(reader, map_location, make_pickle_module(record), pickle_file="data.pkl")
    reshape_as_modules(tree, read_declarations(source))
    return tree


def reshape_as_modules(obj: Any, decls: dict[str, dict[str, list[str]]], depth: int = 0) -> None:
    """Give every TorchScript object stub the ``_parameters``/``_buffers``/``_modules`` state of a module."""
    if not isinstance(obj, Stub) or depth > 64:
        return
    attrs = obj.state_dict_like
    if not isinstance(attrs, dict) or "_modules" in attrs:
        return
    import torch

    decl = decls.get(obj.stub_name, {"parameters": [], "buffers": []})
    params, buffers, modules = {}, {}, {}
    for name, value in attrs.items():
        if isinstance(value, torch.Tensor):
            target = params if name in decl["parameters"] else buffers
            target[name] = (
                torch.nn.Parameter(value, requires_grad=value.is_floating_point())
                if (
                    target is params
                    and not isinstance(value, torch.nn.Parameter)
                    and value.is_floating_point()
                )
                else value
            )
        elif isinstance(value, Stub) and isinstance(value.state_dict_like, dict):
            reshape_as_modules(value, decls, depth + 1)
            modules[name] = value
    obj.stub_state = {
        "_parameters": params,
        "_buffers": buffers,
        "_modules": modules,
        "training": attrs.get("training"),
    }
    obj.stub_name = _MANGLE_RE.sub("", obj.stub_name.removeprefix("__torch__."))
