"""From an opened checkpoint and an input to every layer's output: the one path the CLI and the GUI share.

:func:`prepare_model` resolves the runnable module (``inspector.core.models.resolve``), puts it on the device
the user chose and derives its preprocessing; :class:`MnistSamples` and :func:`image_input` give inputs;
:func:`iter_run` preprocesses and runs one capture pass (``inspector.core.activations.capture``).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspector.core.activations.capture import FeatureResult, iter_features
from inspector.core.data.preprocess import Preprocess, preprocess_for
from inspector.core.errors import InspectorError
from inspector.core.jobs import Job


@dataclass
class InputImage:
    """A ``uint8`` image, where it came from (for captions) and its true label when known."""

    image: np.ndarray
    source: str
    true_label: int | None = None


@dataclass
class FeatureModel:
    """A runnable module with its preprocessing; ``lock`` makes runs on it one at a time (two runs at once
    would see each other's hooks)."""

    resolved: Any  # ResolvedModule
    preprocess: Preprocess
    device: Any  # torch.device
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def module(self):
        return self.resolved.module


def prepare_model(
    ckpt, device: str = "auto", model_class: str | None = None, trust_class: bool = False
) -> FeatureModel:
    """The checkpoint's runnable module on ``device`` (auto, cpu, cuda, cuda:N) with its preprocessing."""
    from inspector.core.models.device import resolve_device
    from inspector.core.models.resolve import build_module

    target = resolve_device(device)
    resolved = build_module(ckpt, target, model_class=model_class, trust_class=trust_class)
    return FeatureModel(resolved, preprocess_for(resolved, ckpt, _num_classes(resolved.module)), target)


def _num_classes(module) -> int | None:
    """The width of the last Linear layer (what the model predicts over)."""
    import torch

    last = None
    for layer in module.modules():
        if isinstance(layer, torch.nn.Linear):
            last = layer.out_features
    return last


class MnistSamples:
    """One MNIST split read once from a data root (the test split when present): browse by index, label, random."""

    def __init__(self, root, split: str | None = None):
        from inspector.core.data.mnist import (
            DATASET_LABELS,
            available_splits,
            detect_dataset,
            load_mnist_split,
        )
        from inspector.core.data.preprocess import DIGITS, FASHION

        dataset = "FashionMNIST" if detect_dataset(root) == "FashionMNIST" else "MNIST"  # by its folder
        present = available_splits(root, dataset)
        if split is None:
            split = "test" if "test" in present else (present[0] if present else "test")
        self.root, self.split = root, split
        self.images, self.labels = load_mnist_split(root, split, dataset)
        self.dataset = detect_dataset(root, split, self.labels)  # or by its labels (a flat folder)
        self.name = DATASET_LABELS[self.dataset]  # "Fashion-MNIST": for captions
        self.classes = FASHION if self.dataset == "FashionMNIST" else DIGITS  # label i is called classes[i]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def sample(self, index: int) -> InputImage:
        if not 0 <= index < len(self):
            raise InspectorError(f"{self.root}: index {index} is out of range; the {self.split} split has "
                                 f"{len(self)} images (0..{len(self) - 1})")  # fmt: skip
        return InputImage(
            self.images[index].numpy(), f"{self.name} {self.split} #{index}", int(self.labels[index])
        )

    def index_of_label(self, label: int, after: int = -1) -> int:
        """The first image of ``label`` after index ``after`` (wrapping round)."""
        hits = (self.labels == label).nonzero().flatten().tolist()
        if not hits:
            raise InspectorError(
                f"{self.root}: no image of label {self.classes[label]} in the {self.split} split"
            )
        return next((i for i in hits if i > after), hits[0])

    def random_index(
        self, rng: random.Random | None = None, label: int | None = None, avoid: int = -1
    ) -> int:
        """A random image's index; with ``label``, a random image of that label (browse by label then Random
        stays within it). ``avoid``: an index not to return when there is another choice (the one shown)."""
        rng = rng or random
        if label is None:
            pool = range(len(self))
        else:
            pool = (self.labels == label).nonzero().flatten().tolist()
            if not pool:
                raise InspectorError(
                    f"{self.root}: no image of label {self.classes[label]} in the {self.split} split"
                )
        if len(pool) < 2:
            return pool[0]
        pick = rng.randrange(len(pool) - (0 <= avoid < len(self) and (label is None or avoid in pool)))
        index = pool[pick]
        return pool[-1] if index == avoid else index


def image_input(path) -> InputImage:
    from inspector.core.data.images import read_image

    return InputImage(read_image(path), str(path))


def iter_run(model: FeatureModel, sample: InputImage, ablate: dict[str, list[int]] | None = None,
             preprocess: Preprocess | None = None) -> Job[FeatureResult]:  # fmt: skip
    """Preprocess ``sample`` and run one capture pass (a job returning a :class:`FeatureResult`)."""
    x = (preprocess or model.preprocess).apply(sample.image)
    with model.lock:
        return (yield from iter_features(model.module, x, model.device, ablate))


def parse_ablation(specs: list[str] | None) -> dict[str, list[int]]:
    """``["conv2:0,3", "fc1:5"]`` -> ``{"conv2": [0, 3], "fc1": [5]}``."""
    out: dict[str, list[int]] = {}
    for spec in specs or []:
        layer, sep, channels = spec.rpartition(":")
        try:
            numbers = [int(c) for c in channels.split(",") if c.strip()]
        except ValueError:
            numbers = []
        if not sep or not layer or not numbers or min(numbers) < 0:
            raise InspectorError(f"--ablate '{spec}': write it as LAYER:CH[,CH...], e.g. conv2:0,3")
        out.setdefault(layer, []).extend(numbers)
    return out
