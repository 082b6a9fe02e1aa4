"""The optional TensorBoard log of a run: ``torch.utils.tensorboard.SummaryWriter``, the logger people use."""

from __future__ import annotations

from inspector.core.errors import InspectorError
from inspector.core.jobs import Job


def open_writer(folder: str):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InspectorError(
            "--tensorboard needs the tensorboard package: pip install tensorboard (or drop --tensorboard)"
        ) from None
    try:
        return SummaryWriter(log_dir=folder)
    except OSError as exc:
        raise InspectorError(
            f"{folder}: cannot write the TensorBoard log ({exc.strerror}); choose another folder"
        ) from None


def log_hparams(writer, settings, metrics: dict) -> None:
    hparams = {
        k: (v if isinstance(v, int | float | str | bool) else str(v)) for k, v in settings.to_json().items()
    }
    writer.add_hparams(hparams, {f"hparam/{k}": v for k, v in metrics.items() if isinstance(v, int | float)})


def iter_logged_finetune(run) -> Job:
    """:func:`~inspector.core.training.loop.iter_finetune` with the run's TensorBoard log when its settings name
    a folder (rank 0 only): scalars per step, histograms per epoch, then the hyper-parameters with the final
    metrics. The writer is closed however the run ends (finished, cancelled, failed). The CLI and the GUI both
    run this, so the same settings give the same log."""
    from inspector.core.training.loop import iter_finetune

    folder = run.settings.tensorboard
    writer = open_writer(folder) if folder and run.world.is_main else None
    try:
        result = yield from iter_finetune(run, writer)
        if writer is not None:
            log_hparams(writer, run.settings, {"val_accuracy_before": result.val_accuracy_before,
                                               "val_accuracy_after": result.val_accuracy_after,
                                               "samples_per_second": result.samples_per_second})  # fmt: skip
        return result
    finally:
        if writer is not None:
            writer.close()


def open_command(folder: str) -> str:
    """The command that shows the log (what the CLI prints and the GUI shows)."""
    import shlex

    return f"tensorboard --logdir {shlex.quote(folder)}"
