"""The one object that holds what the window is showing; views listen to it instead of being fed by hand.

It keeps the open checkpoint (and so its trust state), the selected entry, and the runnable model built from the
checkpoint for feature maps (built lazily, on a worker thread, once per device and model class).

Signals:
    checkpoint_changed(object): a new ``Checkpoint`` (or None) is open; every cached model is dropped.
    selection_changed(object): the ``TensorEntry`` now selected, or None.
    model_class_changed(str): the user chose a model class (``path/file.py:Class``; "" for none).
    ablation_requested(str, int): a view asks to zero this layer's output channel (a filter in the weights view).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal


class Session(QObject):
    checkpoint_changed = Signal(object)
    selection_changed = Signal(object)
    model_class_changed = Signal(str)
    ablation_requested = Signal(str, int)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.checkpoint = None
        self.entry = None
        self.model_class = ""
        self.model_class_trusted = False
        self._models: dict[tuple[str, str], Any] = {}

    @property
    def trusted(self) -> bool:
        return bool(self.checkpoint is not None and self.checkpoint.trusted)

    def set_checkpoint(self, checkpoint) -> None:
        self.checkpoint = checkpoint
        self.entry = None
        self._models.clear()
        self.checkpoint_changed.emit(checkpoint)

    def select(self, entry) -> None:
        if entry is not self.entry:
            self.entry = entry
            self.selection_changed.emit(entry)

    def set_model_class(self, spec: str, trusted: bool) -> None:
        """Use ``spec`` for a bare state dict; ``trusted``: the user confirmed that its file may run."""
        self.model_class, self.model_class_trusted = spec, trusted
        self._models.clear()
        self.model_class_changed.emit(spec)

    # -- the runnable model, built once per device ------------------------------------------------------------
    def cached_model(self, device: str):
        return self._models.get((device, self.model_class))

    def keep_model(self, device: str, model) -> None:
        self._models[(device, self.model_class)] = model

    def forget_models(self, keep: str = "") -> None:
        """Drop every cached model except those on ``keep`` (after running out of GPU memory)."""
        self._models = {key: model for key, model in self._models.items() if key[0] == keep}

    def model_job(self, device: str):
        """A job (for the worker) that builds the feature model; made on the worker thread."""
        checkpoint, spec, trusted = self.checkpoint, self.model_class or None, self.model_class_trusted

        def job():
            from inspector.core.activations.features import prepare_model
            from inspector.core.jobs import Progress

            yield Progress(0, 1, "building the model")
            return prepare_model(checkpoint, device, spec, trust_class=trusted)

        return job()
