"""Read MNIST from the raw IDX files under a data root the user names; no download, no writing.

The layout is the one ``torchvision.datasets.MNIST`` uses: ``<root>/MNIST/raw/<split>-images-idx3-ubyte[.gz]``
and ``...-labels-idx1-ubyte[.gz]``. torchvision's dataset class insists on all four files (train and test), so
it cannot open a root that holds only one split; we read whichever splits are there instead. Uncompressed files
go through torchvision's own ``read_image_file`` / ``read_label_file``; those cannot read a gzip stream, and the
data root may be read-only, so ``.gz`` files are decompressed in memory and their IDX header is parsed here.

torch is imported inside the functions, so importing this module costs nothing at start-up.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path

from inspector.core.errors import Fix, InspectorError

SPLITS = ("train", "test")
_PREFIX = {"train": "train", "test": "t10k"}
IMAGE_SIDE = 28
NUM_CLASSES = 10
CLASSES = ("0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
           "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine")  # fmt: skip  # torchvision's names
IDX_UBYTE = 0x08  # IDX type code of unsigned bytes, the only one MNIST uses


def raw_folder(root, dataset: str = "MNIST") -> Path:
    """The folder holding the IDX files: ``<root>/<dataset>/raw``, or ``root`` itself when the files lie there."""
    root = Path(os.fspath(root)).expanduser()
    nested = root / dataset / "raw"
    if not nested.is_dir() and any(_files_of(root, split) for split in SPLITS):
        return root
    return nested


def available_splits(root, dataset: str = "MNIST") -> list[str]:
    """The splits (``"train"``, ``"test"``) whose image and label files are both present under ``root``."""
    folder = raw_folder(root, dataset)
    return [split for split in SPLITS if _files_of(folder, split)]


def load_mnist_split(root, split: str = "test", dataset: str = "MNIST"):
    """``(images, labels)`` of one split: a ``uint8`` tensor ``[N, 28, 28]`` and an ``int64`` tensor ``[N]``.

    Raises :class:`InspectorError` naming ``root`` and the fix when the files are missing or malformed.
    """
    if split not in SPLITS:
        raise InspectorError(f"unknown MNIST split '{split}'; use one of {', '.join(SPLITS)}")
    folder = raw_folder(root, dataset)
    files = _files_of(folder, split)
    if files is None:
        raise _missing(root, folder, split, dataset)
    images = _read_idx(files[0], ndim=3)
    labels = _read_idx(files[1], ndim=1).long()
    if images.shape[0] != labels.shape[0]:
        raise InspectorError(
            f"{folder}: the {split} split has {images.shape[0]} images but {labels.shape[0]} labels; "
            "the files come from different downloads: fetch both again"
        )
    if tuple(images.shape[1:]) != (IMAGE_SIDE, IMAGE_SIDE):
        raise InspectorError(
            f"{files[0]}: images are {tuple(images.shape[1:])}, not 28x28; this is not MNIST"
        )
    if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) < NUM_CLASSES:
        raise InspectorError(f"{files[1]}: labels outside 0..9; this is not an MNIST label file")
    return images, labels


# -- files ---------------------------------------------------------------------------------------------------
def _files_of(folder: Path, split: str) -> tuple[Path, Path] | None:
    """The (images, labels) files of ``split`` in ``folder``, plain preferred over ``.gz``; None if either lacks."""
    found = []
    for kind, ndim in (("images", 3), ("labels", 1)):
        stem = folder / f"{_PREFIX[split]}-{kind}-idx{ndim}-ubyte"
        path = next((p for p in (stem, stem.with_name(stem.name + ".gz")) if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


DATASET_LABELS = {"MNIST": "MNIST", "FashionMNIST": "Fashion-MNIST"}  # as people write them
# the first ten labels of Fashion-MNIST's splits (its files have MNIST's names and format, so a flat folder of
# them says nothing else about what it holds)
_FASHION_LABELS = {"test": (9, 2, 1, 1, 6, 1, 4, 6, 5, 7), "train": (9, 0, 0, 3, 0, 2, 7, 2, 5, 5)}


def detect_dataset(root, split: str | None = None, labels=None) -> str:
    """``"FashionMNIST"`` or ``"MNIST"`` for the IDX files under ``root``: by torchvision's folder
    (``FashionMNIST/raw`` without ``MNIST/raw``), by the folder's name, or by the split's first labels
    (``labels`` of ``split``, when read already). Captions and label names follow it."""
    if not available_splits(root) and available_splits(root, "FashionMNIST"):
        return "FashionMNIST"
    folder = raw_folder(root)
    named = (folder.name, folder.parent.name) if folder.name == "raw" else (folder.name,)
    if any("fashion" in name.lower() for name in named):
        return "FashionMNIST"
    if (
        labels is not None
        and split in _FASHION_LABELS
        and tuple(labels[:10].tolist()) == _FASHION_LABELS[split]
    ):
        return "FashionMNIST"
    return "MNIST"


def _missing(root, folder: Path, split: str, dataset: str) -> InspectorError:
    present = available_splits(root, dataset)
    prefix = _PREFIX[split]
    if present:
        fix = f"use the {' or '.join(present)} split, or add {prefix}-images-idx3-ubyte.gz and {prefix}-labels-idx1-ubyte.gz there"
        return InspectorError(
            f"{root}: no {DATASET_LABELS.get(dataset, dataset)} {split} split in {folder}", Fix(fix, fix)
        )
    wanted = f"{dataset}/raw/{prefix}-images-idx3-ubyte.gz"
    return InspectorError(
        f"{root}: no {DATASET_LABELS.get(dataset, dataset)} {split} split in {folder}",
        Fix(
            f"point the data root at the folder that holds {wanted}, or fetch it on a machine with internet: "
            f"torchvision.datasets.{dataset}('{root}', download=True)",
            f"choose the folder that holds {wanted} (Data root… in Features, Browse… in Fine-tune)",
        ),
    )


# -- IDX parsing ---------------------------------------------------------------------------------------------
def _read_idx(path: Path, ndim: int):
    """The tensor of an IDX file of unsigned bytes with ``ndim`` dimensions."""
    if path.suffix != ".gz":
        from torchvision.datasets.mnist import read_image_file, read_label_file

        reader = read_image_file if ndim == 3 else read_label_file
        try:
            return reader(str(path))
        except (AssertionError, TypeError, ValueError, RuntimeError) as exc:
            raise _bad_idx(path, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
    try:
        with gzip.open(path, "rb") as stream:
            data = stream.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise _bad_idx(path, f"the gzip stream is truncated or corrupt ({exc})") from None
    return _parse_idx(path, data, ndim)


def _parse_idx(path: Path, data: bytes, ndim: int):
    """IDX: two zero bytes, a type byte, a dimension count, then one big-endian uint32 per dimension."""
    import torch

    if len(data) < 4:
        raise _bad_idx(path, "shorter than an IDX header")
    zero, type_code, dims = struct.unpack_from(">HBB", data, 0)
    if zero != 0 or type_code != IDX_UBYTE or dims != ndim:
        raise _bad_idx(
            path, f"header says type 0x{type_code:02x} with {dims} dimensions, expected 0x08 with {ndim}"
        )
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise _bad_idx(path, "the header is truncated")
    shape = struct.unpack_from(f">{ndim}I", data, 4)
    expected = 1
    for side in shape:
        expected *= side
    if len(data) - offset != expected:
        raise _bad_idx(path, f"header promises {expected} bytes of data, the file holds {len(data) - offset}")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8, offset=offset).view(*shape)


def _bad_idx(path: Path, reason: str) -> InspectorError:
    return InspectorError(f"{path}: not a valid MNIST IDX file ({reason}); download it again")
