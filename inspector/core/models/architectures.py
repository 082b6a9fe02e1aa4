"""Name the architecture behind a bag of weights, so that a state dict becomes a runnable module.

A state dict alone does not say which entries are parameters and which are buffers, nor how to run it. When its
names and shapes match an architecture we can build from trusted code (our demo model, torchvision's
classifiers), we know both, and :mod:`inspector.core.models.resolve` can build the module without running anything
from the file. Matching is exact: same keys, same shapes; the classifier's width is read off the weights.

Candidates are filtered by a few sentinel keys before anything is built, and building happens on the ``meta``
device, so resolving a file that matches nothing costs no import of torchvision and no memory.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from inspector.core.checkpoint.model import Checkpoint

ARCH_HINT_KEYS = ("arch", "architecture", "model_name", "model_type", "arch_name", "network")


@dataclass(frozen=True)
class Architecture:
    """How to build one architecture: ``builder`` is ``"module:callable"``; ``classifier`` the weight whose
    first dimension is ``num_classes``; ``sentinels`` keys any matching state dict has."""

    name: str
    builder: str
    input_size: tuple[int, ...]
    sentinels: tuple[str, ...]
    classifier: str | None = None

    def build(self, num_classes: int | None = None):
        module_name, _, attr = self.builder.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        return factory(num_classes=num_classes) if num_classes is not None else factory()


def _tv(name: str, sentinels: tuple[str, ...], classifier: str, size=(3, 224, 224)) -> Architecture:
    return Architecture(name, f"torchvision.models:{name}", size, sentinels, classifier)


_RESNET = ("conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer4.0.conv1.weight", "fc.weight")
_VGG = ("features.0.weight", "classifier.0.weight", "classifier.6.weight")
_MOBILE_V3 = ("features.0.0.weight", "classifier.0.weight", "classifier.3.weight")
REGISTRY: tuple[Architecture, ...] = (
    Architecture(
        "mnist_cnn", "inspector.core.models.demo:MnistCNN", (1, 28, 28),
        ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"), "fc2.weight",
    ),
    *(_tv(n, _RESNET, "fc.weight") for n in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")),
    *(_tv(n, _RESNET, "fc.weight") for n in ("resnext50_32x4d", "wide_resnet50_2")),
    *(_tv(n, _VGG, "classifier.6.weight") for n in ("vgg11", "vgg13", "vgg16", "vgg19")),
    *(_tv(n, _VGG, "classifier.6.weight") for n in ("vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")),
    _tv("alexnet", ("features.0.weight", "features.10.weight", "classifier.6.weight"), "classifier.6.weight"),
    _tv("mobilenet_v2", ("features.0.0.weight", "features.18.0.weight", "classifier.1.weight"), "classifier.1.weight"),
    _tv("mobilenet_v3_small", _MOBILE_V3, "classifier.3.weight"),
    _tv("mobilenet_v3_large", _MOBILE_V3, "classifier.3.weight"),
    _tv("efficientnet_b0", ("features.0.0.weight", "features.1.0.block.0.0.weight", "classifier.1.weight"),
        "classifier.1.weight"),
    _tv("densenet121", ("features.conv0.weight", "features.denseblock1.denselayer1.conv1.weight",
                        "classifier.weight"), "classifier.weight"),
    _tv("squeezenet1_0", ("features.0.weight", "classifier.1.weight"), "classifier.1.weight"),
    _tv("squeezenet1_1", ("features.0.weight", "classifier.1.weight"), "classifier.1.weight"),
    _tv("shufflenet_v2_x1_0", ("conv1.0.weight", "stage2.0.branch1.0.weight", "fc.weight"), "fc.weight"),
    _tv("convnext_tiny", ("features.0.0.weight", "features.1.0.block.0.weight", "classifier.2.weight"),
        "classifier.2.weight"),
    _tv("vit_b_16", ("class_token", "conv_proj.weight", "heads.head.weight"), "heads.head.weight"),
)  # fmt: skip
BY_NAME = {a.name: a for a in REGISTRY}


def candidates(names: set[str], hint: str | None = None) -> list[Architecture]:
    """Architectures whose sentinel keys are all in ``names``; a hinted one (from metadata) first."""
    found = [a for a in REGISTRY if all(s in names for s in a.sentinels)]
    if hint and hint in BY_NAME:
        found.sort(key=lambda a: a.name != hint)
    return found


def match(arch: Architecture, shapes: dict[str, tuple[int, ...]]):
    """The ``meta``-device module of ``arch`` whose state dict has exactly ``shapes``, or None."""
    import torch

    num_classes = None
    if arch.classifier and arch.classifier in shapes:
        num_classes = shapes[arch.classifier][0]
    try:
        with torch.device("meta"):
            model = arch.build(num_classes=num_classes)
    except (ImportError, TypeError, ValueError, RuntimeError):
        return None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return model if expected == shapes else None


def metadata_hint(ckpt: Checkpoint) -> str | None:
    for key in ARCH_HINT_KEYS:
        value = ckpt.metadata.get(key)
        if isinstance(value, str):
            return value.lower()
    return None


def resolve_architecture(ckpt: Checkpoint) -> str | None:
    """Set ``ckpt.architecture`` (and parameter/buffer kinds, module classes) when the weights match one."""
    model_entries = ckpt.model_entries()
    if not model_entries or len({e.group for e in model_entries}) != 1:
        return None
    shapes = {e.canonical_name: e.shape for e in model_entries}
    if len(shapes) != len(model_entries):
        return None
    for arch in candidates(set(shapes), metadata_hint(ckpt)):
        model = match(arch, shapes)
        if model is not None:
            _apply(ckpt, arch, model)
            return arch.name
    return None


def _apply(ckpt: Checkpoint, arch: Architecture, model) -> None:
    ckpt.architecture = arch.name
    params = {name for name, _ in model.named_parameters()}
    known_tree = any(e.kind != "tensor" for e in ckpt.model_entries())
    for e in ckpt.model_entries():
        if not known_tree:
            e.kind = "parameter" if e.canonical_name in params else "buffer"
            e.requires_grad = e.kind == "parameter" and e.dtype.startswith(("float", "bfloat", "complex"))
    group = ckpt.model_group or ""
    for name, sub in model.named_modules():
        key = f"{group}/{name}" if group and name else (group or name)
        ckpt.module_classes.setdefault(key, f"{type(sub).__module__}.{type(sub).__qualname__}")
