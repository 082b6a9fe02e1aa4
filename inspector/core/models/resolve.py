"""The one place that turns an opened checkpoint into a runnable ``nn.Module``.

Forward passes, summaries and fine-tuning all start here. A class the user names explicitly (3. below) wins
over the rest: it is their choice, made knowing the file (the description then says what it was chosen over).
Otherwise a module comes from, in order:

1. a resolved architecture (``inspector.core.models.architectures``): built from our own or torchvision's code and
   loaded with the file's weights; no trust needed, since nothing from the file runs;
2. the file's own module, when the user trusted it (a pickled ``nn.Module`` or a TorchScript archive);
3. a class the user names (``model_class="path/file.py:Class"``, :mod:`inspector.core.models.model_class`),
   built with no arguments or with arguments from the checkpoint's hyper-parameters; needs trust, since
   importing that file runs it.

Anything else raises :class:`TrustRequiredError` (the file's classes would have to be imported) or
:class:`InspectorError` (a bare state dict of an architecture we do not know).
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.core.checkpoint.model import Checkpoint
from inspector.core.errors import Fix, InspectorError, TrustRequiredError

TRUST_FIX = Fix(
    cli="open it with --trust (or File > Trust and reload) if you trust where it came from",
    gui="reload it with File › Trust and reload… if you trust where it came from",
)
MODEL_CLASS_FIX = Fix(
    cli="name the class that defines it with --model-class path/to/file.py:ClassName (GUI: Choose model "
    "class...), or save the whole model",
    gui="name the class that defines it with Choose model class… (Features tab), or save the whole model",
)

SOURCE_TEXT = {
    "architecture": "known architecture {name} (matched by key names and shapes; built from trusted code)",
    "trusted_pickle": "the file's own pickled module (trusted)",
    "trusted_torchscript": "the file's own TorchScript module (trusted)",
    "model_class": "model class {name} (user-named, trusted)",
}


@dataclass
class ResolvedModule:
    """A runnable module, where it came from and the input size it expects (when known)."""

    module: object  # torch.nn.Module
    source: str  # "architecture" | "trusted_pickle" | "trusted_torchscript" | "model_class"
    input_size: tuple[int, ...] | None
    name: str = ""  # architecture or class name
    unexpected_keys: tuple[str, ...] = ()
    chosen_over: str = ""  # what the file alone would have given, when the user's class won over it

    @property
    def description(self) -> str:
        """One line for the UI and the CLI: which model was used and why it is safe to run."""
        text = SOURCE_TEXT[self.source].format(name=self.name)
        return f"{text}, chosen over {self.chosen_over}" if self.chosen_over else text


def build_module(ckpt: Checkpoint, device=None, model_class: str | None = None,
                 trust_class: bool = False) -> ResolvedModule:  # fmt: skip
    """A module in eval mode on ``device`` (default: the CPU), holding the checkpoint's weights.

    ``model_class`` (``path/file.py:Class``) is the third source; ``trust_class`` says the user allowed its
    file to run."""
    import torch

    device = torch.device(device or "cpu")
    if model_class:  # the user's explicit choice wins over what the file's keys or its own module suggest
        resolved = _from_model_class(ckpt, model_class, trust_class or ckpt.trusted, device)
        resolved.chosen_over = _file_source_text(ckpt)
        return resolved
    if ckpt.architecture:
        from inspector.core.models.architectures import by_name

        arch = by_name(ckpt.architecture)
        state = {e.canonical_name: ckpt.tensor(e) for e in ckpt.model_entries()}
        classifier = state.get(arch.classifier) if arch.classifier else None
        model = arch.build(num_classes=classifier.shape[0] if classifier is not None else None)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise InspectorError(
                f"{ckpt.path}: weights do not fit {arch.name} ({first[1].strip() if len(first) > 1 else first[0]}); "
                "the file may be a variant of that architecture"
            ) from None
        return ResolvedModule(model.to(device).eval(), "architecture", arch.input_size, arch.name)
    module = _trusted_module(ckpt)
    if module is not None:
        source = "trusted_torchscript" if ckpt.format == "torchscript" else "trusted_pickle"
        return ResolvedModule(
            module.to(device).eval(), source, guess_input_size(module), type(module).__name__
        )
    if ckpt.format in ("pickled_module", "torchscript") or ckpt.stubbed_globals:
        raise TrustRequiredError(
            f"{ckpt.path}: running this model imports its own classes ({', '.join(ckpt.stubbed_globals[:4])})",
            ckpt.stubbed_globals,
            TRUST_FIX,
        )
    raise InspectorError(f"{ckpt.path}: the architecture of these weights is unknown", MODEL_CLASS_FIX)


def _file_source_text(ckpt: Checkpoint) -> str:
    """What the file alone resolves to (for "chosen over ..."), without building it; "" for nothing."""
    if ckpt.architecture:
        return f"known architecture {ckpt.architecture} that the keys match"
    if _trusted_module(ckpt) is not None:
        return "the file's own module"
    return ""


def _from_model_class(ckpt: Checkpoint, spec: str, trusted: bool, device) -> ResolvedModule:
    from inspector.core.models import model_class

    cls = model_class.import_model_class(spec, trusted)
    module = model_class.construct(cls, ckpt.metadata.get("hyper_parameters"))
    state = {e.canonical_name: ckpt.tensor(e) for e in ckpt.model_entries() if e.kind != "attribute"}
    _, unexpected = model_class.load_weights(module, state, ckpt.path)
    return ResolvedModule(module.to(device).eval(), "model_class", guess_input_size(module), cls.__name__,
                          tuple(unexpected))  # fmt: skip


def _trusted_module(ckpt: Checkpoint):
    import torch

    if not ckpt.trusted:
        return None
    raw = ckpt.raw
    if isinstance(raw, torch.nn.Module):
        return raw
    if isinstance(raw, dict) and ckpt.model_group and isinstance(raw.get(ckpt.model_group), torch.nn.Module):
        return raw[ckpt.model_group]
    return None


def guess_input_size(module) -> tuple[int, ...] | None:
    """An input size read off the first layer: (C, 28, 28) for one input channel, (C, 224, 224) otherwise."""
    import torch

    for layer in module.modules():
        if isinstance(layer, torch.nn.Conv2d):
            side = 28 if layer.in_channels == 1 else 224
            return (layer.in_channels, side, side)
        if isinstance(layer, torch.nn.Linear):
            return (layer.in_features,)
    return None
