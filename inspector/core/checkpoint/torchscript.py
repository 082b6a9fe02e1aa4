"""List a TorchScript archive's tensors without ``torch.jit.load``, which would run the archive's code.

A ``torch.jit.save`` archive is a torch zip whose ``data.pkl`` pickles the module tree as objects of classes
``__torch__.<qualified name>`` with their attributes as state; the classes themselves are TorchScript source in
``code/``, where each class declares ``__parameters__`` and ``__buffers__``. We read ``data.pkl`` with our own
zip reader and the safe unpickler (so every object is an inert stub), read those two declarations from the
source text (within a budget), and reshape each stub into the ``_parameters``/``_buffers``/``_modules`` form
of a pickled ``nn.Module``, so the ordinary module walk in ``inspector.core.checkpoint.listing`` lists it.
Tensors a class declares neither way stay plain attributes (listed as kind ``attribute``), as do other values
(lists of tensors, the packed parameters of quantized modules).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from inspector.core.checkpoint.stubs import Stub
from inspector.core.checkpoint.torch_zip import TorchZip
from inspector.core.limits import MiB

_CLASS_RE = re.compile(r"^class (\w+)\(Module\):\n((?:  .*\n|\n)*)", re.MULTILINE)
_MANGLE_RE = re.compile(r"\.___torch_mangle_\d+")  # TorchScript renames classes scripted twice
_DECL_RE = re.compile(r"^  __(parameters|buffers)__ = (\[.*?\])", re.MULTILINE)


def read_declarations(archive: TorchZip) -> dict[str, dict[str, list[str]]]:
    """``{"__torch__.pkg.mod.Class": {"parameters": [...], "buffers": [...]}}`` from the archive's code."""
    decls: dict[str, dict[str, list[str]]] = {}
    left = archive.ctx.limits.max_code_mb * MiB
    for name, info in archive.records.items():
        if not name.startswith("code/") or not name.endswith(".py"):
            continue
        if info.file_size > left:
            break  # past the budget: the remaining classes list their tensors as buffers
        left -= info.file_size
        module = name[len("code/") : -len(".py")].replace("/", ".")
        text = archive.read(name, info.file_size).decode("utf-8", "replace")
        for class_name, body in _CLASS_RE.findall(text):
            found = {kind: _literal_list(value) for kind, value in _DECL_RE.findall(body)}
            decls[f"{module}.{class_name}"] = {
                "parameters": found.get("parameters", []),
                "buffers": found.get("buffers", []),
            }
    return decls


def _literal_list(text: str) -> list[str]:
    if len(text) > 100_000:
        return []
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def load_torchscript_tree(source, ctx) -> Any:
    """The archive's module tree as stubs in ``nn.Module`` form (see module docstring)."""
    archive = TorchZip(source, ctx)
    tree = archive.load()
    reshape_as_modules(tree, read_declarations(archive))
    return tree


def reshape_as_modules(root: Any, decls: dict[str, dict[str, list[str]]]) -> None:
    """Give every TorchScript object stub the ``_parameters``/``_buffers``/``_modules`` state of a module.

    Iterative, and each stub once: archives whose objects share or contain each other stay linear."""
    import torch

    seen: set[int] = set()
    work = [root]
    while work:
        obj = work.pop()
        if not isinstance(obj, Stub) or id(obj) in seen:
            continue
        seen.add(id(obj))
        attrs = obj.state_dict_like
        if not isinstance(attrs, dict) or "_modules" in attrs:
            continue
        declared = decls.get(obj.stub_name)  # None: its source was past the budget or not found
        decl = declared or {"parameters": [], "buffers": []}
        params, buffers, modules, others = {}, {}, {}, {}
        for name, value in attrs.items():
            if isinstance(value, torch.Tensor):
                is_param = name in decl["parameters"]
                if is_param and not isinstance(value, torch.nn.Parameter) and value.is_floating_point():
                    value = torch.nn.Parameter(value, requires_grad=True)
                if not is_param and declared is not None and name not in decl["buffers"]:
                    others[name] = value  # a plain ``stride : Tensor`` attribute of the class
                else:
                    (params if is_param else buffers)[name] = value
            elif isinstance(value, Stub) and isinstance(value.state_dict_like, dict):
                modules[name] = value
                work.append(value)
            elif isinstance(name, str) and not name.startswith("__"):
                others[name] = value  # plain attributes; packed (weight, bias) of LinearPackedParams, FX
        obj.stub_state = {**others, "_parameters": params, "_buffers": buffers, "_modules": modules,
                          "training": attrs.get("training")}  # fmt: skip
        obj.stub_name = _MANGLE_RE.sub("", obj.stub_name.removeprefix("__torch__."))
