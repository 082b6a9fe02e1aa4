"""A tiny learnable data root in MNIST's raw layout and an untrained demo-net checkpoint, for fine-tuning tests.

Class ``k`` is a bright 6x6 square at one of ten places on a noisy 28x28 image: a frozen-conv demo net learns it
to high accuracy in one short epoch, so "validation accuracy rose" is a real check, with no data set needed.
"""

from __future__ import annotations

import gzip
import pathlib
import struct

import torch


def write_idx(path: pathlib.Path, tensor: torch.Tensor) -> None:
    header = struct.pack(">HBB", 0, 0x08, tensor.ndim) + struct.pack(f">{tensor.ndim}I", *tensor.shape)
    with gzip.open(path, "wb") as stream:
        stream.write(header + tensor.contiguous().numpy().tobytes())


def write_square_digits(root: pathlib.Path, n: int = 1200, seed: int = 0, splits=("test",)) -> pathlib.Path:
    """``root/MNIST/raw/{t10k,train}-*-ubyte.gz`` with ``n`` images per split."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    for split in splits:
        labels = torch.randint(0, 10, (n,), generator=g)
        images = (torch.rand(n, 28, 28, generator=g) * 60).to(torch.uint8)
        for i, k in enumerate(labels.tolist()):
            r, c = 2 + (k // 5) * 14, 1 + (k % 5) * 5
            images[i, r : r + 6, c : c + 5] = 255
        prefix = "t10k" if split == "test" else "train"
        write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", labels.to(torch.uint8))
    return root


def write_untrained_demo(folder: pathlib.Path, seed: int = 0, name: str = "untrained.pth") -> pathlib.Path:
    """A training checkpoint of a freshly initialised demo net (so accuracy starts near chance)."""
    from inspector.core.models.demo import MnistCNN

    torch.manual_seed(seed)
    path = folder / name
    torch.save({"model_state_dict": MnistCNN().state_dict(), "epoch": 0}, path)
    return path
