"""From an opened checkpoint and the run's settings to a ready :class:`~inspector.core.training.loop.FinetuneRun`,
and from a finished run to the dict that is saved.

The model is resolved as for the feature maps (:mod:`inspector.core.models.resolve`: a known architecture, the
trusted file's own module or a user-named class) and its preprocessing is the feature maps' too, so what the
model trains on looks like what the Features tab shows it.
"""

from __future__ import annotations

from inspector.core.errors import Fix, InspectorError
from inspector.core.training.datasets import batch_preprocess, load_training_data
from inspector.core.training.freeze import plan_freeze
from inspector.core.training.loop import FinetuneResult, FinetuneRun
from inspector.core.training.settings import FinetuneSettings

SMALL_DATA_BYTES = 1 << 30  # uint8 image sets up to this size move to the training device once


def prepare_run(ckpt, settings: FinetuneSettings, model_class: str | None = None, trust_class: bool = False,
                world=None) -> FinetuneRun:  # fmt: skip
    import torch

    from inspector.core.activations.features import _num_classes
    from inspector.core.data.preprocess import preprocess_for
    from inspector.core.models.device import resolve_device
    from inspector.core.models.resolve import build_module
    from inspector.core.training import distributed

    world = world or distributed.world_from_env()
    device = distributed.init_world(world, resolve_device(settings.device))
    resolved = build_module(ckpt, "cpu", model_class=model_class, trust_class=trust_class)
    module = resolved.module
    head = replace_head(module, settings.new_head) if settings.new_head is not None else None
    preprocess = preprocess_for(resolved, ckpt, _num_classes(module))
    data = load_training_data(settings.data, preprocess, settings.seed, settings.limit)
    outputs = _num_classes(module)
    if outputs is not None and outputs < len(data.classes):
        n = len(data.classes)
        raise InspectorError(
            f"{data.root}: the data has {n} classes but the model predicts {outputs}",
            Fix(cli=f"replace the head with --new-head {n}", gui=f"replace the head: set New head to {n}"),
        )
    if outputs is not None and outputs > len(data.classes):
        data.note += (f"; the data has {len(data.classes)} classes but the model predicts {outputs}: "
                      f"--new-head {len(data.classes)} fits the head to the data")  # fmt: skip
    plan = plan_freeze(module, list(settings.freeze), settings.all_but_last, new_head=head)
    for part in (data.train, data.val):
        if part.in_memory and part.images.numel() <= SMALL_DATA_BYTES:
            part.images, part.labels = part.images.to(device), part.labels.to(device)
    with out_of_memory(device, settings.batch_size):
        module.to(device)
    torch.manual_seed(settings.seed)
    return FinetuneRun(module, plan, data, batch_preprocess(preprocess), settings, device, world, resolved.name,
                       base_path=getattr(ckpt, "path", "") or "")  # fmt: skip


def replace_head(module, num_classes: int) -> str:
    """A fresh last ``Linear`` layer with ``num_classes`` outputs (for data with another number of classes);
    returns its name (its parameters train whatever the freeze patterns say)."""
    import torch

    last = None
    for name, layer in module.named_modules():
        if isinstance(layer, torch.nn.Linear):
            last = (name, layer)
    if last is None:
        raise InspectorError("the model has no Linear layer to replace", Fix(
            cli="leave out --new-head", gui="set New head back to keep"))  # fmt: skip
    name, layer = last
    parent = module.get_submodule(name.rpartition(".")[0]) if "." in name else module
    setattr(
        parent,
        name.rpartition(".")[2],
        torch.nn.Linear(layer.in_features, num_classes, bias=layer.bias is not None),
    )
    return name


TRAINING_OOM_FIX = Fix(cli="nothing was saved: lower --batch-size, or run on the CPU with --device cpu",
                       gui="nothing was saved: lower Batch size, or press Retry on CPU")  # fmt: skip


def out_of_memory(device, batch_size: int):
    """Out of GPU memory in training: one clear message after the memory is released (the one handler,
    :func:`inspector.core.models.device.out_of_memory`)."""
    from inspector.core.models.device import out_of_memory as released_on_oom

    return released_on_oom(device, f"(batch size {batch_size})", TRAINING_OOM_FIX)


def checkpoint_dict(result: FinetuneResult, run: FinetuneRun, base_path: str, base_sha256: str) -> dict:
    """What is saved: ``torch.load(weights_only=True)`` opens it (tensors, numbers, strings, lists, dicts)."""
    state = {k: v.detach().cpu() for k, v in result.module.state_dict().items()}
    last = result.epochs[-1] if result.epochs else None
    return {
        "model_state_dict": state,
        "optimizer_state_dict": _to_cpu(result.optimizer.state_dict()),
        "epoch": last.epoch if last else 0,
        "metrics": {
            "val_accuracy_before": result.val_accuracy_before,
            "val_accuracy_after": result.val_accuracy_after,
            "train_loss": last.train_loss if last else None,
            "epochs": [e.to_json() for e in result.epochs],
            "samples_per_second": result.samples_per_second,
        },
        "frozen": list(result.checked),
        "trainable": list(result.plan.trainable),
        "hyper_parameters": run.settings.to_json(),
        "dataset": f"{run.data.kind} ({', '.join(run.data.classes[:3])}{', ...' if len(run.data.classes) > 3 else ''})",
        "class_names": list(run.data.classes),
        "architecture": run.architecture,
        "base_file": base_path,
        "base_sha256": base_sha256,
    }


def _to_cpu(value):
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


def iter_guarded(job, device, batch_size: int):
    """``job`` with out-of-GPU-memory turned into the one clear message (see :func:`out_of_memory`)."""
    with out_of_memory(device, batch_size):
        return (yield from job)
