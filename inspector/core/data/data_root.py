"""Where MNIST-style data is read from: the root the user names, else the last one used, else the cache folder.

The last root is remembered in ``$XDG_CONFIG_HOME/inspector/state.json`` (plain JSON, so the CLI and the GUI
share it without Qt); the default is ``$XDG_CACHE_HOME/inspector/data``, where a user can put (or let
torchvision download) the data. Nothing is ever written into a data root.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "inspector"


def default_data_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "inspector" / "data"


def _state() -> dict:
    try:
        return json.loads((_config_dir() / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def last_data_root() -> Path | None:
    value = _state().get("mnist_root")
    return Path(value) if isinstance(value, str) and value else None


def remember_data_root(root) -> None:
    """Keep ``root`` as the default for next time (best effort: a read-only home is no error)."""
    state = _state()
    state["mnist_root"] = os.path.abspath(os.fspath(root))
    folder = _config_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, folder / "state.json")
    except OSError:
        pass


def resolve_data_root(root=None) -> Path:
    """The root to read: ``root`` when given, else the last one used, else :func:`default_data_root`."""
    if root:
        return Path(os.fspath(root)).expanduser()
    return last_data_root() or default_data_root()
