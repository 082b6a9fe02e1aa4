"""``--data mnist:DIR | fashion-mnist:DIR | folder:DIR`` -> training and validation sets for one model.

MNIST and Fashion-MNIST are read from the raw IDX files under the root the user names (whichever splits are
there, see :mod:`inspector.core.data.mnist`; torchvision's dataset classes insist on both splits). With a train
split, validation is the test split; with only one split, it is cut into train and validation with a fixed seed.
Images stay ``uint8`` (on the training device when small) and are preprocessed per batch exactly as the
feature-map view preprocesses one image for the same model (:class:`~inspector.core.data.preprocess.Preprocess`),
so a 3-channel 224x224 torchvision model can train on MNIST without a 36 GB float copy. An image folder goes
through ``torchvision.datasets.ImageFolder`` and a ``DataLoader``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from inspector.core.data.preprocess import DIGITS, FASHION, Preprocess
from inspector.core.errors import Fix, InspectorError

KINDS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "folder": "ImageFolder"}
VAL_FRACTION = 0.2


@dataclass
class ImageSet:
    """Images and labels of one split. ``images`` is a ``uint8`` tensor ``[N, H, W]`` (IDX data) or a torch
    ``Dataset`` yielding preprocessed tensors (image folders)."""

    images: Any
    labels: Any  # int64 [N] (IDX data) or None (a Dataset carries its labels)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def in_memory(self) -> bool:
        return self.labels is not None


@dataclass
class TrainingData:
    """What a fine-tuning run trains and validates on."""

    kind: str  # "mnist" | "fashion-mnist" | "folder"
    root: str
    train: ImageSet
    val: ImageSet
    classes: tuple[str, ...]
    note: str  # how the splits were made, for the UI and the JSON

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.root}"


def parse_data_spec(spec: str) -> tuple[str, str]:
    kind, sep, root = (spec or "").partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in KINDS or not root:
        raise InspectorError(
            f"--data '{spec}': write it as mnist:DIR, fashion-mnist:DIR or folder:DIR (a data root in torchvision's layout)"
        )
    return kind, os.path.expanduser(root)


def load_training_data(
    spec: str, preprocess: Preprocess, seed: int = 0, limit: int | None = None
) -> TrainingData:
    """The train/validation sets named by ``spec``; ``limit`` caps the training and the validation set (quick
    runs)."""
    kind, root = parse_data_spec(spec)
    if limit is not None and limit < 1:
        raise InspectorError(
            f"--limit {limit}: give a number of images, at least 1 (leave it out to use them all)"
        )
    if not os.path.isdir(root):
        raise InspectorError(f"{root}: no such folder", Fix(
            cli=f"--data {kind}:DIR names a data root", gui="choose the data root with Browse…"))  # fmt: skip
    if kind == "folder":
        train, val, classes, note = _image_folder(root, preprocess, seed)
    else:
        train, val, note = _idx_splits(root, KINDS[kind], seed)
        classes = FASHION if kind == "fashion-mnist" else DIGITS
    if limit is not None and limit < len(train):
        train = _subset(train, range(limit))
        note += f"; training on the first {limit}"
    if limit is not None and limit < len(val):  # a quick run validates quickly too
        val = _subset(val, range(limit))
        note += f", validating on the first {limit}"
    return TrainingData(kind, root, train, val, classes, note)


def _idx_splits(root: str, dataset: str, seed: int) -> tuple[ImageSet, ImageSet, str]:
    from inspector.core.data.mnist import available_splits, load_mnist_split

    present = available_splits(root, dataset)
    if not present:
        load_mnist_split(root, "test", dataset)  # raises the data module's message naming the files to add
    if "train" in present and "test" in present:
        train, val = (ImageSet(*load_mnist_split(root, s, dataset)) for s in ("train", "test"))
        return train, val, f"train split ({len(train)}) for training, test split ({len(val)}) for validation"
    split = present[0]
    whole = ImageSet(*load_mnist_split(root, split, dataset))
    train, val = _split(whole, seed)
    return train, val, (f"only the {split} split is present: {len(train)} images for training, {len(val)} for "
                        f"validation (seed {seed})")  # fmt: skip


def _split(whole: ImageSet, seed: int) -> tuple[ImageSet, ImageSet]:
    import torch

    order = torch.randperm(len(whole), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, int(len(whole) * VAL_FRACTION))
    # validation is the permutation's tail: with seed 0 on MNIST's test split that is exactly the 2,000 images the
    # demo checkpoint held out (resources/make_demo_checkpoint.py trains on the head), so its figures stay honest
    return _subset(whole, order[:-n_val]), _subset(whole, order[-n_val:])


def _subset(data: ImageSet, indices) -> ImageSet:
    import torch

    if data.in_memory:
        index = torch.as_tensor(list(indices) if isinstance(indices, range) else indices)
        return ImageSet(data.images[index], data.labels[index])
    return ImageSet(torch.utils.data.Subset(data.images, list(indices)), None)


def _image_folder(root: str, preprocess: Preprocess, seed: int):
    from torchvision.datasets import ImageFolder

    from inspector.core.data.images import read_image

    def load(path):
        return preprocess.apply(read_image(path))[0]

    try:
        folder = ImageFolder(root, loader=load)
    except (FileNotFoundError, RuntimeError) as exc:
        raise InspectorError(
            f"{root}: not an image folder ({exc}); use one sub-folder of images per class"
        ) from None
    train, val = _split(ImageSet(folder, None), seed)
    return train, val, tuple(folder.classes), (f"{len(train)} images for training, {len(val)} for validation "
                                               f"(seed {seed}), one class per sub-folder")  # fmt: skip


def batch_preprocess(preprocess: Preprocess):
    """A function from a ``uint8 [N, H, W]`` batch (any device) to the model's float input batch."""

    def apply(images):
        return preprocess.from_unit(images.unsqueeze(1).float().div_(255.0))

    return apply
