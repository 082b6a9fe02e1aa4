"""The optional TensorBoard log of a run: ``torch.utils.tensorboard.SummaryWriter``, the logger people use."""

from __future__ import annotations

from inspector.core.errors import InspectorError


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
