"""Name the architecture behind a bag of weights, so that a state dict becomes a runnable module.

A state dict alone does not say which entries are parameters and which are buffers, nor how to run it. When its
names and shapes match an architecture we can build from trusted code (our demo model, torchvision's
classifiers), we know both, and :mod:`inspector.core.models.resolve` can build the module without running anything
from the file. Matching is exact: same keys, same shapes, whatever the classifier's width (read off the weights).

The match reads a table of signatures (:mod:`inspector.core.models.signatures`, generated from the real classes
by ``scripts/gen_architecture_signatures.py``) and builds nothing: recognising a file never imports torchvision.
"""

from __future__ import annotations

from inspector.core.checkpoint.model import Checkpoint
from inspector.core.models.signatures import Signature as Architecture
from inspector.core.models.signatures import load_signatures

ARCH_HINT_KEYS = ("arch", "architecture", "model_name", "model_type", "arch_name", "network")
__all__ = ["Architecture", "by_name", "candidates", "resolve_architecture"]


def by_name(name: str) -> Architecture:
    """The architecture called ``name`` (a key of the signature table)."""
    return load_signatures()[name]


def candidates(shapes: dict[str, tuple[int, ...]], hint: str | None = None) -> list[Architecture]:
    """Architectures whose signature ``shapes`` match exactly; a hinted one (from metadata) first."""
    found = [a for a in load_signatures().values() if a.matches(shapes)]
    if hint:
        found.sort(key=lambda a: a.name != hint)
    return found


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
    found = candidates(shapes, metadata_hint(ckpt))
    if not found:
        return None
    _apply(ckpt, found[0])
    return found[0].name


def _apply(ckpt: Checkpoint, arch: Architecture) -> None:
    ckpt.architecture = arch.name
    known_tree = any(e.kind != "tensor" for e in ckpt.model_entries())
    for e in ckpt.model_entries():
        if not known_tree:
            e.kind = "buffer" if e.canonical_name in arch.buffers else "parameter"
            e.requires_grad = e.kind == "parameter" and e.dtype.startswith(("float", "bfloat", "complex"))
            e.trainable_source = "inferred"
    group = ckpt.model_group or ""
    for name, cls in arch.modules.items():
        key = f"{group}/{name}" if group and name else (group or name)
        ckpt.module_classes.setdefault(key, cls)
