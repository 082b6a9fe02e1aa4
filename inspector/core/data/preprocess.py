"""Turn an input image into what the model expects, and say how: the preprocessing is shown and editable.

It follows the model: one grey channel at 28x28 with MNIST's normalisation for MNIST-sized models; for
torchvision classifiers grey repeated to three channels, resized to the model's input size, and ImageNet's
normalisation. Class names come with it: digits for MNIST (Fashion-MNIST's names when the checkpoint's metadata
says Fashion), ImageNet's categories from torchvision's weight metadata for 1000-class torchvision models.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from inspector.core.errors import InspectorError

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)  # torchvision's MNIST constants
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DIGITS = tuple(str(i) for i in range(10))
# torchvision.datasets.FashionMNIST.classes (written out: importing torchvision.datasets costs ~2 s)
FASHION = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the model's input ``[1, C, H, W]`` (or ``[1, N]`` for a model that starts with a
    Linear layer), and the names of the model's classes."""

    channels: int
    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    labels: tuple[str, ...] = ()
    flatten: bool = False  # the model's first layer is Linear: feed it a flat vector
    invert: bool = False  # white digit on black (MNIST) from a black-on-white drawing

    def describe(self) -> str:
        steps = [
            f"{'grey' if self.channels == 1 else f'{self.channels} channels'} at {self.size[0]}x{self.size[1]}"
        ]
        if self.invert:
            steps.append("inverted")
        steps.append(f"normalised (x - {_fmt(self.mean)}) / {_fmt(self.std)}")
        if self.flatten:
            steps.append(f"flattened to {self.channels * self.size[0] * self.size[1]} values")
        return ", ".join(steps)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["labels"] = len(self.labels)
        out["description"] = self.describe()
        return out

    def with_changes(self, **changes) -> Preprocess:
        return replace(self, **changes)

    def apply(self, image: np.ndarray):
        """``uint8`` ``[H, W]`` or ``[H, W, 3]`` -> float32 tensor of the model's input shape."""
        import torch

        if image.ndim not in (2, 3) or image.size == 0:
            raise InspectorError(f"an input image of shape {image.shape} is neither grey nor colour")
        x = torch.from_numpy(np.ascontiguousarray(image)).float().div_(255.0)
        x = x.unsqueeze(0) if x.ndim == 2 else x.permute(2, 0, 1)
        return self.from_unit(x.unsqueeze(0))

    def from_unit(self, x):
        """``[N, C, H, W]`` floats in 0..1 (any device) -> the model's input batch: invert, channels, size,
        normalisation, flattening. One image (:meth:`apply`) and a training batch both end here."""
        import torch
        from torch.nn import functional as F

        if self.invert:
            x = 1.0 - x
        if self.channels == 1 and x.shape[1] == 3:
            x = (x * torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)).sum(
                1, keepdim=True
            )
        elif self.channels > 1 and x.shape[1] == 1:
            x = x.expand(-1, self.channels, -1, -1)
        elif x.shape[1] != self.channels:
            raise InspectorError(f"the model wants {self.channels} channels, the image has {x.shape[1]}")
        if tuple(x.shape[-2:]) != tuple(self.size):
            x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True, align_corners=False)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
        x = (x - mean) / std
        return x.reshape(x.shape[0], -1) if self.flatten else x.contiguous()


def _fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")" if len(values) > 1 else f"{values[0]:g}"


def preprocess_for(resolved, ckpt=None, num_classes: int | None = None) -> Preprocess:
    """The preprocessing for a :class:`~inspector.core.models.resolve.ResolvedModule`."""
    size = resolved.input_size or (1, 28, 28)
    flatten = len(size) == 1
    if flatten:
        side = math.isqrt(size[0])
        channels, hw = (1, (side, side)) if side * side == size[0] else (1, (1, size[0]))
    else:
        channels, hw = size[0], (size[-2], size[-1])
    if channels == 1:
        mean, std = MNIST_MEAN, MNIST_STD
    elif channels == 3:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        mean, std = (0.0,) * channels, (1.0,) * channels
    return Preprocess(channels, hw, mean, std, class_names(resolved, ckpt, num_classes), flatten)


def class_names(resolved, ckpt=None, num_classes: int | None = None) -> tuple[str, ...]:
    """Names of the model's outputs: digits or Fashion-MNIST for 10-class grey models, ImageNet's for
    1000-class torchvision models (from the weights' metadata), else the indices."""
    n = num_classes or 0
    grey = resolved.input_size is None or resolved.input_size[0] == 1 or len(resolved.input_size) == 1
    if n == 10 and grey:
        return FASHION if _mentions_fashion(ckpt) else DIGITS
    if n == 1000 and resolved.source == "architecture" and resolved.name != "mnist_cnn":
        try:
            import torchvision

            weights = torchvision.models.get_model_weights(resolved.name)
            return tuple(next(iter(weights)).meta["categories"])
        except (ImportError, ValueError, KeyError, StopIteration):
            pass
    return tuple(str(i) for i in range(n))


def _mentions_fashion(ckpt) -> bool:
    if ckpt is None:
        return False
    stack, seen = [ckpt.metadata], 0
    while stack and seen < 2000:
        value = stack.pop()
        seen += 1
        if isinstance(value, str) and "fashion" in value.lower():
            return True
        if isinstance(value, dict):
            stack.extend(value.values())
            stack.extend(k for k in value if isinstance(k, str))
        elif isinstance(value, list):
            stack.extend(value[:100])
    return False
