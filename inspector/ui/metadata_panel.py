"""Everything about an opened file besides its tensors: form, totals, metadata, referenced globals.

The metadata of a training checkpoint is arbitrary nested data (epoch, hyper-parameters, optimizer
``param_groups``...). :func:`describe_value` and :func:`value_children` turn it into rows without Qt, and
cap how many children a row gets, so a huge list never floods the view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtGui import QFont, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHeaderView, QTreeView, QVBoxLayout, QWidget

from inspector.core.checkpoint.model import ESTIMATE_NOTE
from inspector.core.formatting import format_bytes, format_count, format_shape, plural

if TYPE_CHECKING:
    from inspector.core.checkpoint.model import Checkpoint

MAX_CHILDREN = 200  # rows shown under one dict/list; the rest are summarised in one row
MAX_DEPTH = 12
MAX_TEXT = 300


def _clip(text: str) -> str:
    text = " ".join(text.split()) if "\n" in text else text
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _is_tensor_like(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, type)


def describe_value(value: Any) -> str:
    """One line for a metadata value: the value itself for scalars, a summary for containers."""
    if isinstance(value, dict):
        return f"dict, {len(value)} keys"
    if isinstance(value, list | tuple | set | frozenset):
        return f"{type(value).__name__}, {plural(len(value), 'item')}"
    if _is_tensor_like(value):
        dtype = str(value.dtype).removeprefix("torch.")
        return f"{type(value).__name__} {format_shape(tuple(value.shape))} {dtype}"
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, bool | int | float | complex | bytes) or value is None:
        return _clip(repr(value))
    fields = _object_fields(value)
    if fields:
        return f"{type(value).__module__}.{type(value).__qualname__}"
    return _clip(repr(value))


def _object_fields(value: Any) -> dict[str, Any]:
    """Attributes of a plain object (e.g. an argparse Namespace or an untrusted stub), if it has any."""
    try:
        fields = vars(value)
    except TypeError:
        return {}
    return fields if isinstance(fields, dict) else {}


def value_children(value: Any) -> tuple[list[tuple[str, Any]], int]:
    """``(key, child)`` pairs to show under ``value`` (at most :data:`MAX_CHILDREN`) and how many were left."""
    if isinstance(value, dict):
        pairs = ((str(k), v) for k, v in value.items())
        size = len(value)
    elif isinstance(value, list | tuple):
        pairs = ((f"[{i}]", v) for i, v in enumerate(value))
        size = len(value)
    elif isinstance(value, set | frozenset):
        pairs = (("", v) for v in sorted(value, key=repr))
        size = len(value)
    elif _is_tensor_like(value) or isinstance(value, str | bytes | int | float | bool | complex):
        return [], 0
    else:
        fields = _object_fields(value)
        pairs, size = iter(fields.items()), len(fields)
    shown = [pair for _, pair in zip(range(MAX_CHILDREN), pairs, strict=False)]
    return shown, max(0, size - len(shown))


class MetadataPanel(QWidget):
    """A two-column tree (key, value) of the open file's description and metadata."""

    SECTIONS = ("File", "Totals", "Metadata", "Globals referenced", "Module classes", "Warnings")

    def __init__(self, parent: QWidget | None = None, session=None):
        super().__init__(parent)
        if session is not None:  # the window's Session: follow the open file
            session.checkpoint_changed.connect(self.set_checkpoint)
        self.model = QStandardItemModel(0, 2, self)
        self.model.setHorizontalHeaderLabels(["Key", "Value"])
        self.view = QTreeView()
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.view.header().setStretchLastSection(True)
        self.view.setColumnWidth(0, 240)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    def set_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        self.model.removeRows(0, self.model.rowCount())
        if checkpoint is None:
            return
        totals = checkpoint.totals
        self._add_section(
            "File",
            {
                "path": checkpoint.path,
                "format": checkpoint.format,
                "container": checkpoint.container,
                "compression": checkpoint.compression or "none",
                "trusted": "yes" if checkpoint.trusted else "no (weights only: no code from the file ran)",
                "architecture": checkpoint.architecture or "unknown",
                "model group": checkpoint.model_group or "—",
                "model prefix": checkpoint.model_prefix or "—",
            },
        )
        self._add_section(
            "Totals",
            {
                "tensors": format_count(totals.entries),
                "parameter elements": format_count(totals.parameters),
                "trainable elements": format_count(totals.trainable),
                "buffers": format_count(totals.buffers),
                "other tensors": format_count(totals.tensors),
                **({"kinds": ESTIMATE_NOTE.removeprefix("* ")} if totals.parameters_estimated else {}),
                "size": f"{format_bytes(totals.bytes)} ({format_count(totals.bytes)} bytes)",
            },
        )
        self._add_section("Metadata", checkpoint.metadata)
        self._add_section("Globals referenced", list(checkpoint.globals_referenced))
        self._add_section("Module classes", {k or "(root)": v for k, v in checkpoint.module_classes.items()})
        self._add_section("Warnings", list(checkpoint.warnings))
        for row in range(self.model.rowCount()):
            if self.model.item(row, 0).text() in ("File", "Totals", "Metadata", "Warnings"):
                self.view.expand(self.model.index(row, 0))

    def _add_section(self, title: str, value: Any) -> None:
        head = QStandardItem(title)
        font = QFont(head.font())
        font.setBold(True)
        head.setFont(font)
        if not value:
            text = "empty"
        elif title in ("File", "Totals"):  # fixed rows: their count says nothing
            text = ""
        else:
            text = describe_value(value)
        summary = QStandardItem(text)
        for item in (head, summary):
            item.setEditable(False)
        self._add_children(head, value, depth=0)
        self.model.appendRow([head, summary])

    def _add_children(self, parent: QStandardItem, value: Any, depth: int) -> None:
        if depth >= MAX_DEPTH:
            return
        children, left = value_children(value)
        for key, child in children:
            key_item, value_item = QStandardItem(key), QStandardItem(describe_value(child))
            key_item.setEditable(False)
            value_item.setEditable(False)
            value_item.setToolTip(value_item.text())
            self._add_children(key_item, child, depth + 1)
            parent.appendRow([key_item, value_item])
        if left:
            more = QStandardItem(f"… {format_count(left)} more")
            more.setEditable(False)
            parent.appendRow([more, QStandardItem("")])

    def section_values(self, title: str) -> dict[str, str]:
        """``key -> value text`` of the rows directly under section ``title`` (what tests and users read)."""
        for row in range(self.model.rowCount()):
            head = self.model.item(row, 0)
            if head.text() == title:
                return {head.child(r, 0).text(): head.child(r, 1).text() for r in range(head.rowCount())}
        raise KeyError(title)
