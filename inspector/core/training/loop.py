"""The fine-tuning loop as a job: a generator that yields a record per batch and returns the finished run.

The CLI, the GUI's worker, ``torchrun`` and the benchmark all drive this one generator. Per batch it does what
a bare PyTorch loop does (forward, loss, backward, step) and nothing more on the device; the loss is read back
to the CPU only every ``LOSS_READ_EVERY`` batches and at the end of an epoch on a GPU, so it is not stalled (on
the CPU reading it costs nothing and every batch's loss is reported).
Validation accuracy is measured before the first step and after each epoch. Frozen tensors are snapshotted
first and compared bitwise at the end. Cancelling (closing the generator) stops between two batches, so the
model is always the result of whole optimizer steps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from inspector.core.errors import InspectorError
from inspector.core.jobs import Job, Progress
from inspector.core.training.freeze import FreezePlan, apply_freeze, set_train_mode
from inspector.core.training.settings import FinetuneSettings

LOSS_READ_EVERY = 20
VAL_BATCH = 1024


@dataclass
class StepRecord:
    """One training batch, for live curves (``loss`` is None on batches whose loss was not read back)."""

    epoch: int
    batch: int
    batches: int
    step: int
    loss: float | None
    accuracy: float | None


@dataclass
class BaselineRecord:
    """The validation accuracy before the first step, yielded as soon as it is measured (the GUI plots it as
    epoch 0 while the run goes on, not only when it ends)."""

    accuracy: float


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float
    seconds: float
    lr: float

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "train_loss": self.train_loss, "train_accuracy": self.train_accuracy,
                "val_accuracy": self.val_accuracy, "seconds": round(self.seconds, 4), "lr": self.lr}  # fmt: skip


@dataclass
class FinetuneRun:
    """Everything a run needs, prepared before the first batch (model on its device, data, plan)."""

    module: Any  # torch.nn.Module, on ``device``
    plan: FreezePlan
    data: Any  # TrainingData
    batch_preprocess: Any  # uint8 batch -> model input
    settings: FinetuneSettings
    device: Any
    world: Any  # distributed.World
    architecture: str = ""
    base_path: str = (
        ""  # the file fine-tuned, checked with verify first (settings.verify); "" skips the check
    )


@dataclass
class FinetuneResult:
    module: Any
    optimizer: Any
    plan: FreezePlan
    epochs: list[EpochRecord]
    val_accuracy_before: float
    val_accuracy_after: float
    frozen_unchanged: bool
    frozen_changed: list[str]
    samples_per_second: float
    train_seconds: float
    device: str
    extra: dict = field(default_factory=dict)
    checked: tuple[str, ...] = ()  # the frozen state names compared bitwise (what "frozen" means in reports)

    @property
    def updated_buffers(self) -> list[str]:
        """Buffers of frozen modules that were allowed to update (``update_frozen_bn``): not called frozen."""
        return [n for n in self.plan.frozen_state if n not in set(self.checked)]


def make_optimizer(params, settings: FinetuneSettings):
    import torch

    name = settings.optimizer.lower()
    if name == "sgd":
        return torch.optim.SGD(
            params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay
        )
    if name == "adam":
        return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    raise InspectorError(f"unknown optimizer '{settings.optimizer}'; use sgd, adam or adamw")


def make_schedule(optimizer, settings: FinetuneSettings, steps_per_epoch: int):
    import torch

    if settings.schedule == "none":
        return None
    if settings.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, settings.epochs // 3) * steps_per_epoch,
                                               gamma=0.1)  # fmt: skip
    if settings.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, settings.epochs * steps_per_epoch)
        )
    raise InspectorError(f"unknown schedule '{settings.schedule}'; use none, step or cosine")


def checked_names(plan: FreezePlan, params, update_frozen_bn: bool) -> list[str]:
    """The state names that must come out bitwise unchanged: every frozen tensor, less the buffers of frozen
    modules when their statistics may update."""
    return [n for n in plan.frozen_state if not update_frozen_bn or n in params]


def snapshot(module, names) -> dict:
    state = module.state_dict()
    return {n: state[n].detach().clone() for n in names}


def bitwise_changed(module, before: dict) -> list[str]:
    """Names whose bytes differ from the snapshot (NaN-safe: compares bits, not values)."""
    state = module.state_dict()
    changed = []
    for name, old in before.items():
        new = state[name].detach()
        if old.shape != new.shape or not _same_bits(old, new):
            changed.append(name)
    return changed


def _same_bits(a, b) -> bool:
    import torch

    a, b = a.contiguous().reshape(-1), b.contiguous().reshape(-1)
    if a.dtype == torch.bool:
        return torch.equal(a, b)
    return torch.equal(a.view(torch.uint8), b.view(torch.uint8))


def evaluate(module, dataset, preprocess_batch, device) -> float:
    """Accuracy of ``module`` (in eval mode) on ``dataset`` (see :func:`iter_evaluate`), on this thread."""
    from inspector.core.jobs import run_job

    return run_job(iter_evaluate(module, dataset, preprocess_batch, device))


def iter_evaluate(module, dataset, preprocess_batch, device, done: int = 0, total: int = 0, label: str = ""):
    """Accuracy of ``module`` (in eval mode) on ``dataset``, yielding between batches (so Cancel and the CLI's
    progress reach a long validation pass too); ``done``/``total`` are passed through to the progress records.
    The module's train/eval state is restored."""
    import torch

    was_training = module.training
    module.eval()
    correct = total_seen = 0
    batches = math.ceil(len(dataset) / VAL_BATCH)
    try:
        for i, (x, y) in enumerate(_batches(dataset, VAL_BATCH, device, preprocess_batch, order=None)):
            with torch.inference_mode():
                correct += int((module(x).argmax(1) == y).sum())
            total_seen += int(y.numel())
            if batches > 1:
                yield Progress(done, total, f"{label or 'validation'}: batch {i + 1}/{batches}")
    finally:
        module.train(was_training)
    return correct / total_seen if total_seen else float("nan")


def _batches(dataset, batch_size, device, preprocess_batch, order):
    """(input, label) batches on ``device``: by index into in-memory ``uint8`` images, or through a
    ``DataLoader`` for an image folder. ``order`` is a tensor of indices (None: in order)."""
    import torch

    if dataset.in_memory:
        n = len(dataset)
        index = order if order is not None else torch.arange(n, device=dataset.images.device)
        for start in range(0, len(index), batch_size):
            chunk = index[start : start + batch_size]
            yield preprocess_batch(dataset.images[chunk]), dataset.labels[chunk]
        return
    sampler = order.tolist() if order is not None else None
    loader = torch.utils.data.DataLoader(dataset.images, batch_size=batch_size, sampler=sampler)
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def _epoch_order(run: FinetuneRun, epoch: int):
    """This rank's shuffled indices for ``epoch`` (a ``DistributedSampler`` shard under torchrun)."""
    import torch

    n = len(run.data.train)
    if run.world.distributed:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(
            range(n), run.world.size, run.world.rank, shuffle=True, seed=run.settings.seed
        )
        sampler.set_epoch(epoch)
        order = torch.tensor(list(iter(sampler)))
    else:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(run.settings.seed * 1000 + epoch))
    return order.to(run.data.train.images.device) if run.data.train.in_memory else order


def iter_finetune(run: FinetuneRun, writer=None) -> Job[FinetuneResult]:
    """Train ``run.module`` in place; yields :class:`Progress` with :class:`StepRecord` or
    :class:`EpochRecord` payloads and returns a :class:`FinetuneResult`."""
    import torch

    from inspector.core.training import distributed

    s, module, device = run.settings, run.module, run.device
    torch.manual_seed(s.seed)
    apply_freeze(module, run.plan)
    frozen_names = set(run.plan.frozen)
    trainable = [(n, p) for n, p in module.named_parameters() if n not in frozen_names]  # named: the saved
    # optimizer state says whose state it is (param_groups' param_names), though it holds only these
    if not trainable:
        raise InspectorError("every parameter is frozen: nothing would train; freeze fewer layers")
    params = dict(module.named_parameters())
    checked = checked_names(run.plan, params, s.update_frozen_bn)
    before = snapshot(module, checked)
    optimizer = make_optimizer(trainable, s)
    model = distributed.wrap(module, run.world, device)
    per_rank = math.ceil(len(run.data.train) / run.world.size)
    batches = math.ceil(per_rank / s.batch_size)
    schedule = make_schedule(optimizer, s, batches)
    loss_fn = torch.nn.CrossEntropyLoss()
    if s.verify and run.base_path:  # before any step: a damaged base file is refused, not certified
        from inspector.core.training.base_check import iter_check_base

        yield from iter_check_base(run.base_path, batches * s.epochs)
    yield Progress(0, batches * s.epochs, "measuring validation accuracy before training")
    val_before = yield from iter_evaluate(module, run.data.val, run.batch_preprocess, device, 0, batches * s.epochs,
                                          "validation accuracy before training")  # fmt: skip
    yield Progress(0, batches * s.epochs, f"validation accuracy before training: {val_before:.2%}",
                   BaselineRecord(val_before))  # fmt: skip
    if writer is not None:
        writer.add_scalar("val/accuracy", val_before, 0)
    epochs: list[EpochRecord] = []
    step, samples, train_seconds = 0, 0, 0.0
    for epoch in range(1, s.epochs + 1):
        set_train_mode(module, run.plan, s.update_frozen_bn)
        order = _epoch_order(run, epoch)
        started = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for b, (x, y) in enumerate(
            _batches(run.data.train, s.batch_size, device, run.batch_preprocess, order)
        ):
            optimizer.zero_grad(set_to_none=True)
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            optimizer.step()
            if schedule is not None:
                schedule.step()
            step += 1
            seen += int(y.shape[0])
            loss_sum += loss.detach() * y.shape[0]
            correct += (out.detach().argmax(1) == y).sum()
            read = device.type == "cpu" or (b + 1) % LOSS_READ_EVERY == 0 or b + 1 == batches
            value = float(loss.detach()) if read else None
            if value is not None and writer is not None:
                writer.add_scalar("train/loss", value, step)
            yield Progress(step, batches * s.epochs, f"epoch {epoch}/{s.epochs}, batch {b + 1}/{batches}",
                           StepRecord(epoch, b + 1, batches, step, value, None))  # fmt: skip
        distributed.sync_buffers(module, run.world)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - started
        train_seconds += seconds
        samples += seen
        val = yield from iter_evaluate(module, run.data.val, run.batch_preprocess, device, step, batches * s.epochs,
                                       f"validation after epoch {epoch}/{s.epochs}")  # fmt: skip
        record = EpochRecord(epoch, float(loss_sum) / max(seen, 1), int(correct) / max(seen, 1), val, seconds,
                             optimizer.param_groups[0]["lr"])  # fmt: skip
        epochs.append(record)
        if writer is not None:
            _log_epoch(writer, module, record, step)
        yield Progress(step, batches * s.epochs, f"epoch {epoch} done: validation accuracy {val:.2%}", record)
    changed = bitwise_changed(module, before)
    module.eval()
    return FinetuneResult(
        module, optimizer, run.plan, epochs, val_before, epochs[-1].val_accuracy if epochs else val_before,
        not changed, changed, samples * run.world.size / train_seconds if train_seconds else 0.0,
        train_seconds, str(device), checked=tuple(checked),
    )  # fmt: skip


def _log_epoch(writer, module, record: EpochRecord, step: int) -> None:
    writer.add_scalar("train/epoch_loss", record.train_loss, step)
    writer.add_scalar("train/accuracy", record.train_accuracy, step)
    writer.add_scalar("val/accuracy", record.val_accuracy, step)
    for name, param in module.named_parameters():
        writer.add_histogram(name, param.detach().float().cpu(), record.epoch)
    writer.flush()
