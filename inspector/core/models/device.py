"""The one device policy: CUDA when there is one, else CPU; ``INSPECTOR_DEVICE`` overrides.

Every forward pass and training step asks :func:`default_device` instead of deciding on its own, so a
user (or a test) can pin work to the CPU with ``INSPECTOR_DEVICE=cpu`` and GPU runs are opt-out, not opt-in.
"""

from __future__ import annotations

import os


def default_device():
    """``torch.device`` to run models on: ``$INSPECTOR_DEVICE``, else ``cuda`` if available, else ``cpu``."""
    import torch

    wanted = os.environ.get("INSPECTOR_DEVICE", "").strip()
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device(device) -> str:
    """A short human name: ``cpu`` or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)
