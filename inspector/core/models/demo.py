"""The demo model: a small, readable MNIST CNN whose every layer kind has a view in inspector.

``conv1`` gives a grid of 16 3x3 filters, ``bn1`` a BatchNorm with running statistics (buffers beside
parameters), ``conv2`` a 32x16 grid, and ``fc1``/``fc2`` Linear weights to show as heatmaps. About 106k
parameters: it trains to ~97% on a few thousand images in well under a minute on a CPU, and its training
checkpoint (weights plus Adam state) stays near 1.3 MB.

Registered as ``mnist_cnn`` in :mod:`inspector.core.models.architectures`, so a bare state dict of it becomes a runnable
module without trusting the file. This module imports torch at the top: import it only when a model is needed,
never on the start-up path.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

INPUT_SIZE = (1, 28, 28)
MNIST_MEAN = 0.1307  # torchvision's MNIST normalisation constants
MNIST_STD = 0.3081


class MnistCNN(nn.Module):
    """conv(1->16) + BatchNorm + pool, conv(16->32) + pool, fc(1568->64), fc(64->num_classes).

    Takes ``[N, 1, 28, 28]`` images normalised with ``(x / 255 - MNIST_MEAN) / MNIST_STD`` (see
    :func:`normalize`) and returns ``[N, num_classes]`` logits.
    """

    def __init__(self, num_classes: int = 10, hidden: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)  # 28x28 -> pool -> 14x14
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)  # 14x14 -> pool -> 7x7
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """``uint8 [N, 28, 28]`` images (as :func:`inspector.core.data.mnist.load_mnist_split` returns them) to the
    ``float32 [N, 1, 28, 28]`` input :class:`MnistCNN` expects."""
    return ((images.float() / 255.0 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)
