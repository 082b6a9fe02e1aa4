"""A model class the user names (``--model-class path/to/file.py:ClassName``) for a bare state dict.

When the weights match no known architecture and the file holds no module, the user can point at the Python
file that defines the model. Importing that file runs it, so the caller must have the user's trust (``--trust``
or the GUI's confirmation). The class is built with no arguments, or with the arguments its ``__init__`` names
taken from the checkpoint's hyper-parameters; the weights are loaded non-strictly so that missing and unexpected
keys can be listed, and the module runs only when every parameter and persistent buffer got a value.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
from typing import Any

from inspector.core.errors import Fix, InspectorError, TrustRequiredError

CLASS_TRUST_FIX = Fix(cli="add --trust (or confirm in the app) if you trust it",
                      gui="choose it again with Choose model class… and confirm if you trust it")  # fmt: skip
CLASS_PATH_FIX = Fix(cli="check the --model-class path", gui="choose the file again with Choose model class…")


def parse_spec(spec: str) -> tuple[str, str]:
    """``("path/to/file.py", "ClassName")`` from ``path/to/file.py:ClassName``."""
    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise InspectorError(
            f"--model-class '{spec}': write it as path/to/file.py:ClassName"
        )  # CLI only: the
        # GUI's "Choose model class…" checks the name it is given before it makes a spec
    return path, name


def import_model_class(spec: str, trusted: bool):
    """The ``nn.Module`` subclass ``spec`` names; importing its file runs it, so ``trusted`` must be True."""
    import torch

    path, name = parse_spec(spec)
    if not trusted:
        raise TrustRequiredError(f"{path}: using a model class runs its file", [spec], CLASS_TRUST_FIX)
    if not os.path.isfile(path):
        raise InspectorError(f"{path}: no such file", CLASS_PATH_FIX)
    digest = hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]
    module_name = f"inspector_user_model_{digest}"
    try:
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        loader_spec.loader.exec_module(module)
    except Exception as exc:  # the user's file can raise anything
        sys.modules.pop(module_name, None)
        raise InspectorError(
            f"{path}: importing it failed ({type(exc).__name__}: {exc}); fix the file"
        ) from None
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise InspectorError(f"{path}: defines no nn.Module subclass named {name}; check the class name")
    return cls


def construct(cls, hyper_parameters: dict[str, Any] | None):
    """``cls()`` or ``cls(**args)`` with the ``__init__`` arguments found in the hyper-parameters."""
    hyper_parameters = hyper_parameters if isinstance(hyper_parameters, dict) else {}
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    args = {p.name: hyper_parameters[p.name] for p in named if p.name in hyper_parameters}
    missing = [p.name for p in named if p.default is p.empty and p.name not in args]
    if missing:
        raise InspectorError(
            f"{cls.__name__}() needs {', '.join(missing)}, which the checkpoint's hyper-parameters do not hold; "
            "give the class defaults for them"
        )
    try:
        return cls(**args)
    except Exception as exc:
        raise InspectorError(
            f"{cls.__name__}({', '.join(args)}) failed: {type(exc).__name__}: {exc}"
        ) from None


def load_weights(module, state: dict[str, Any], path: str) -> tuple[list[str], list[str]]:
    """Load ``state`` into ``module``; returns (missing, unexpected) keys. Refuses when a parameter or a
    persistent buffer got no value (the module would run with random numbers)."""
    expected = module.state_dict()
    shapes_wrong = [
        k for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)
    ]
    if shapes_wrong:
        k = shapes_wrong[0]
        raise InspectorError(
            f"{path}: {k} has shape {tuple(state[k].shape)} in the file but {tuple(expected[k].shape)} in "
            f"{type(module).__name__} ({len(shapes_wrong)} such); check the class or its arguments"
        )
    result = module.load_state_dict(state, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InspectorError(
            f"{path}: {len(missing)} tensor(s) of {type(module).__name__} are not in the file ({shown}); "
            "the class does not match these weights"
        )
    return missing, unexpected
