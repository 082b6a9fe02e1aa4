"""Files for the fault tests: a state dict with many entries (the loads that cancel and close must cut short)."""

from __future__ import annotations

import pathlib

import torch

BIG_ENTRIES = 2000
BIG_ELEMENTS = 16_384  # 64 KiB a tensor: 128 MiB in all, written in well under a second


def write_many_entries(folder, entries: int = BIG_ENTRIES, elements: int = BIG_ELEMENTS) -> pathlib.Path:
    """A state dict of ``entries`` float32 tensors (``layer{i}.weight``, values ``i``) of ``elements`` each."""
    path = pathlib.Path(folder) / "many.pth"
    torch.save({f"layer{i}.weight": torch.full((elements,), float(i)) for i in range(entries)}, path)
    return path


ODD_FOLDER = "my models/ünïcødé 模型"  # spaces and non-ASCII in every part of the path
ODD_NAME = "chéck point 1.pth"


def save_as_if_on_cuda(obj, path) -> pathlib.Path:
    """``torch.save(obj, path)`` with every storage tagged ``cuda:0``, byte for byte what a GPU machine writes
    for the same values (no GPU here): torch names a storage's location through ``location_tag``."""
    original = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(obj, path)
    finally:
        torch.serialization.location_tag = original
    return pathlib.Path(path)
