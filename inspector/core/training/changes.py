"""What a fine-tuning run changed, tensor by tensor: the diff of the base file against the trained model.

The trained weights are still in memory (nothing is saved until the user asks), so they become an in-memory
:class:`~inspector.core.checkpoint.model.Checkpoint` and the compare window's own job
(:func:`inspector.core.analysis.diff.iter_diff`) measures them against the base file's model entries: the same
rel L2, max |a-b| and % changed columns, and the same ``a - b`` drawing, as comparing two files on disk.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from inspector.core.jobs import Job

if TYPE_CHECKING:
    from inspector.core.analysis.diff import DiffResult
    from inspector.core.checkpoint.model import Checkpoint


def trained_checkpoint(module, base_path: str) -> Checkpoint:
    """The module's state (copied to the CPU) as a checkpoint named after the base file, marked unsaved."""
    from inspector.core.checkpoint.listing import list_object
    from inspector.core.checkpoint.model import Checkpoint

    params = {name for name, _ in module.named_parameters()}
    state = {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}
    listing = list_object(state)
    entries = [
        dataclasses.replace(e, kind="parameter" if e.name in params else "buffer", kind_estimated=False)
        for e in listing.entries
    ]
    return Checkpoint(
        path=f"{base_path} (fine-tuned, not saved)", format="state_dict", container="memory",
        entries=entries, model_group="", module_classes={
            name: f"{type(m).__module__}.{type(m).__qualname__}" for name, m in module.named_modules()
        }, _tensor_source=lambda e: state[e.name],
    )  # fmt: skip


def model_view(checkpoint: Checkpoint) -> Checkpoint:
    """``checkpoint`` with only its model's weights (optimizer state and extras are not what a run changes)."""
    return dataclasses.replace(checkpoint, entries=checkpoint.model_entries())


def iter_changes(base: Checkpoint, trained: Checkpoint) -> Job[DiffResult]:
    """Diff the base file's model entries against the trained weights (progress counts tensors)."""
    from inspector.core.analysis.diff import iter_diff

    return (yield from iter_diff(model_view(base), trained))
