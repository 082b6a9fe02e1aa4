"""The one device policy: CUDA when there is one, else CPU; ``INSPECTOR_DEVICE`` overrides.

Every forward pass and training step asks :func:`default_device` instead of deciding on its own, so a
user (or a test) can pin work to the CPU with ``INSPECTOR_DEVICE=cpu`` and GPU runs are opt-out, not opt-in.
"""

from __future__ import annotations

import contextlib
import gc
import os
import traceback

from inspector.core.errors import Fix

CPU_FIX = Fix(cli="use --device cpu", gui="choose cpu in the Device list")
DEVICE_NAME_FIX = Fix(cli="use auto, cpu, cuda or cuda:N", gui="choose one in the Device list")


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


def resolve_device(name: str | None = "auto"):
    """The ``torch.device`` a user asked for: ``auto`` (the policy above), ``cpu``, ``cuda`` or ``cuda:N``.

    Asking for CUDA where there is none (or for a GPU index that does not exist) is an error, never a silent
    fallback: a user who asked for the GPU must know when it did not run there.
    """
    import torch

    from inspector.core.errors import InspectorError

    name = (name or "auto").strip().lower()
    if name == "auto":
        return default_device()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InspectorError(f"unknown device '{name}'", DEVICE_NAME_FIX) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InspectorError(f"device '{name}' asked for, but this machine has no CUDA GPU", CPU_FIX)
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise InspectorError(f"device '{name}' does not exist: this machine has {count} GPU(s)")
    elif device.type != "cpu":
        raise InspectorError(f"device '{name}' is not supported", DEVICE_NAME_FIX)
    return device


def available_devices() -> list[str]:
    """What the device selector offers: ``auto``, ``cpu`` and one ``cuda:N`` per GPU."""
    import torch

    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    return ["auto", "cpu", *gpus]


@contextlib.contextmanager
def out_of_memory(device, what: str, advice, release=None):
    """Out of memory in the block becomes one :class:`OutOfDeviceMemoryError`: ``"out of GPU memory on cuda:0
    {what}; the memory was released; {advice}"``, after ``release()`` (drop what the block kept, e.g. captured
    layer outputs), a garbage collection and ``torch.cuda.empty_cache()``, so the app (or the next run) has the
    memory back. The one handler of the features path and training."""
    import torch

    from inspector.core.errors import OutOfDeviceMemoryError

    try:
        yield
    except torch.OutOfMemoryError as exc:
        traceback.clear_frames(exc.__traceback__)  # the failed step's frames hold its tensors: drop them
        if release is not None:
            release()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        fix = advice if isinstance(advice, Fix) else Fix(advice, advice)  # a str: the same words for both
        raise OutOfDeviceMemoryError(  # torch raises this for accelerators; the CPU's is a RuntimeError
            f"out of GPU memory on {device} {what}; the memory was released", str(device), fix
        ) from None
