"""The tree of a checkpoint's tensors: group > module path > entry, as a Qt item model.

The tree itself is built in core (:func:`inspector.core.checkpoint.entry_tree.build_entry_tree`, no Qt);
:class:`EntryTreeModel` exposes them to a ``QTreeView`` without copying, and
:class:`EntryFilterProxyModel` adds the filter box and sorting. Modules and groups show the totals of what
they hold, so sorting by size at any level finds the heavy parts of a model.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QFont

from inspector.core.checkpoint.entry_tree import EntryNode, build_entry_tree, iter_nodes, natural_key
from inspector.core.formatting import format_bytes, format_count, format_shape, plural

if TYPE_CHECKING:
    from inspector.core.checkpoint.model import Checkpoint, TensorEntry

__all__ = ["EntryNode", "build_entry_tree", "format_bytes", "format_count", "format_shape", "natural_key"]

NAME, SHAPE, DTYPE, NUMEL, BYTES, KIND, TRAINABLE = range(7)
DAMAGED_COLOUR = QColor("#b00020")
DAMAGED_TIP = (
    "Damaged on disk: its bytes fail the CRC-32 stored in the file, so the values shown are wrong. "
    "File › Verify… for details; re-download the file or restore it from a copy."
)
HEADERS = ("Name", "Shape", "Dtype", "Elements", "Size", "Kind", "Trainable")
NODE_ROLE = Qt.ItemDataRole.UserRole + 1  # the EntryNode behind an index
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 2  # its TensorEntry, None for groups and modules

_NUMERIC = (NUMEL, BYTES)
_COLUMNS = len(HEADERS)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


def sort_key(node: EntryNode, column: int) -> Any:
    """What a column sorts by: numbers as numbers, names naturally; same type across rows of a column."""
    entry = node.entry
    if column == NAME:
        return natural_key(node.name)
    if column == SHAPE:
        return tuple(entry.shape) if entry is not None else ()
    if column == DTYPE:
        return entry.dtype if entry is not None else ""
    if column == NUMEL:
        return node.numel
    if column == BYTES:
        return node.nbytes
    if column == KIND:
        return entry.kind if entry is not None else node.class_name.lower()
    if column == TRAINABLE:
        return -1 if entry is None or entry.kind != "parameter" else int(entry.requires_grad)
    return 0


def display_text(node: EntryNode, column: int) -> str:
    entry = node.entry
    if column == NAME:  # optimizer state says whose it is; its raw index is the parent row ("state" > "0")
        return entry.state_label if entry is not None and entry.state_label else node.name
    if column == NUMEL:
        return format_count(node.numel)
    if column == BYTES:
        return format_bytes(node.nbytes)
    if entry is None:  # a module: its class's own name (the tooltip has the dotted path)
        return node.class_name.rpartition(".")[2] if column == KIND else ""
    if column == SHAPE:
        return format_shape(entry.shape)
    if column == DTYPE:
        return entry.dtype
    if column == KIND:
        return entry.kind_label
    if column == TRAINABLE and entry.kind == "parameter":
        return "yes" if entry.requires_grad else "no"
    return ""


def cell_tooltip(node: EntryNode, column: int) -> str:
    """The hover text of a cell: its full text first (a column narrowed by the user elides it), then
    :func:`tooltip_text`'s description of the row."""
    about = tooltip_text(node)
    text = display_text(node, column)
    return f"{text}\n{about}" if text and column != NAME and text not in about.splitlines() else about


def tooltip_text(node: EntryNode) -> str:
    """The row's description: its full key (or path), shape, dtype and size, how its kind was decided."""
    entry = node.entry
    if entry is None:
        what = f"{node.class_name} " if node.class_name else ""
        return (
            f"{node.path}\n{what}{plural(node.count, 'tensor')}, "
            f"{plural(node.numel, 'element', shown=format_count(node.numel))}, "
            f"{format_bytes(node.nbytes)}"
        )
    text = f"{entry.key}\n{format_shape(entry.shape)} {entry.dtype}, {format_count(entry.nbytes)} bytes"
    if entry.kind_estimated:
        text += f"\n{entry.kind}: estimated from its name (no module and no known architecture)"
    if entry.kind == "attribute":
        text += "\nattribute: a plain tensor attribute of its module, not in its state_dict"
    if entry.packed_in:
        text += f"\nread from {entry.packed_in} (packed parameters of a quantized module)"
    if entry.kind == "parameter" and entry.trainable_source == "frozen list":
        text += (
            f"\n{'trainable' if entry.requires_grad else 'frozen'}: from the file's frozen list (fine-tuning)"
        )
    if entry.kind == "parameter" and entry.trainable_source == "quantized":
        text += "\nnot trainable: part of a quantized layer (its float bias lives in the packed parameters)"
    return text + (f"\n{entry.state_label}" if entry.state_label else "")


# -- Qt models ---------------------------------------------------------------------------------------------
class EntryTreeModel(QAbstractItemModel):
    """Read-only item model over :func:`build_entry_tree`; the tree is rebuilt by :meth:`set_checkpoint`."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._root = EntryNode("", "root")
        self._checkpoint: Checkpoint | None = None
        self._bold = QFont()
        self._bold.setBold(True)
        self._damaged: set[str] = set()
        self._italic = QFont()
        self._italic.setItalic(True)

    # -- data in --------------------------------------------------------------------------------------
    def set_damaged(self, keys) -> None:
        """Entry keys whose bytes on disk fail their CRC-32 (the window's check on open): drawn red, with a
        tooltip that says what it means."""
        self._damaged = set(keys)
        self.layoutAboutToBeChanged.emit()  # every row repaints; no index moves
        self.layoutChanged.emit()

    def set_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        self.beginResetModel()
        self._damaged = set()
        self._checkpoint = checkpoint
        self._root = build_entry_tree(checkpoint) if checkpoint is not None else EntryNode("", "root")
        self.endResetModel()

    @property
    def checkpoint(self) -> Checkpoint | None:
        return self._checkpoint

    @property
    def root(self) -> EntryNode:
        return self._root

    def node(self, index: QModelIndex | QPersistentModelIndex) -> EntryNode:
        return index.internalPointer() if index.isValid() else self._root

    def index_of(self, node: EntryNode, column: int = 0) -> QModelIndex:
        if node is self._root or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, column, node)

    def index_for_key(self, key: str) -> QModelIndex:
        """Index of the entry whose ``key`` is ``key`` (invalid when there is none)."""
        for node in iter_nodes(self._root):
            if node.entry is not None and node.entry.key == key:
                return self.index_of(node)
        return QModelIndex()

    # -- QAbstractItemModel ---------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        """Bounds checked here, not with ``hasIndex`` (two more calls back into Python): the proxy maps every
        cell it paints through this, ~3,500 calls per frame of a 2,000-entry tree."""
        if parent.isValid():
            if parent.column() != 0:
                return QModelIndex()
            children = parent.internalPointer().children
        else:
            children = self._root.children
        if 0 <= row < len(children) and 0 <= column < _COLUMNS:
            return self.createIndex(row, column, children[row])
        return QModelIndex()

    def parent(self, index: QModelIndex | None = None):  # type: ignore[override]
        if index is None:  # QObject.parent()
            return QObject.parent(self)
        if not index.isValid():
            return QModelIndex()
        return self.index_of(self.node(index).parent or self._root)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self.node(parent).children)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in _NUMERIC:
            return int(_RIGHT)
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node, column = self.node(index), index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return display_text(node, column)
        damaged = node.entry is not None and node.entry.key in self._damaged
        if role == Qt.ItemDataRole.ToolTipRole:
            if damaged:
                return DAMAGED_TIP
            return cell_tooltip(node, column)
        if role == Qt.ItemDataRole.ForegroundRole and damaged:
            return DAMAGED_COLOUR
        if role == Qt.ItemDataRole.TextAlignmentRole and column in _NUMERIC:
            return int(_RIGHT)
        if role == Qt.ItemDataRole.FontRole:
            if node.node_kind == "group" and column == NAME:
                return self._bold
            if node.entry is None and column == KIND:
                return self._italic
        if role == NODE_ROLE:
            return node
        if role == ENTRY_ROLE:
            return node.entry
        return None


class EntryFilterProxyModel(QSortFilterProxyModel):
    """Filter box and sorting over :class:`EntryTreeModel`.

    The filter keeps a row when every word of it occurs in the row's path (``conv1 weight``), or matches it
    as a wildcard (``layer*.bias``); parents of a kept row stay, and so do the children of a kept module.
    Sorting compares :func:`sort_key` values, so sizes sort as numbers; with no sort column the file's
    order shows.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._terms: list[str] = []
        self.setRecursiveFilteringEnabled(True)
        self.setAutoAcceptChildRows(True)
        self.setDynamicSortFilter(False)

    def set_filter_text(self, text: str) -> None:
        self.beginFilterChange()
        self._terms = [t for t in text.lower().split() if t]
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filter_text(self) -> str:
        return " ".join(self._terms)

    def matches(self, node: EntryNode) -> bool:
        text = node.search_text
        for term in self._terms:
            if any(c in term for c in "*?["):
                if not fnmatch.fnmatchcase(text, f"*{term}*"):
                    return False
            elif term not in text:
                return False
        return True

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        if not self._terms:
            return True
        source = self.sourceModel()
        return self.matches(source.node(source.index(source_row, 0, source_parent)))

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        source = self.sourceModel()
        column = left.column()
        return sort_key(source.node(left), column) < sort_key(source.node(right), column)

    def visible_entries(self) -> list[TensorEntry]:
        """Entries the filter keeps, in view order (what the user sees when everything is expanded)."""
        found: list[TensorEntry] = []

        def walk(parent: QModelIndex) -> None:
            for row in range(self.rowCount(parent)):
                index = self.index(row, 0, parent)
                entry = index.data(ENTRY_ROLE)
                if entry is not None:
                    found.append(entry)
                walk(index)

        walk(QModelIndex())
        return found
