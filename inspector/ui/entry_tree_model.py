"""The tree of a checkpoint's tensors: group > module path > entry, as a Qt item model.

:func:`build_entry_tree` turns a :class:`~inspector.core.checkpoint.model.Checkpoint` into plain :class:`EntryNode`
objects (no Qt, testable alone); :class:`EntryTreeModel` exposes them to a ``QTreeView`` without copying, and
:class:`EntryFilterProxyModel` adds the filter box and sorting. Modules and groups show the totals of what
they hold, so sorting by size at any level finds the heavy parts of a model.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QFont

if TYPE_CHECKING:
    from inspector.core.checkpoint.model import Checkpoint, TensorEntry

NAME, SHAPE, DTYPE, NUMEL, BYTES, KIND, TRAINABLE = range(7)
HEADERS = ("Name", "Shape", "Dtype", "Elements", "Size", "Kind", "Trainable")
NODE_ROLE = Qt.ItemDataRole.UserRole + 1  # the EntryNode behind an index
ENTRY_ROLE = Qt.ItemDataRole.UserRole + 2  # its TensorEntry, None for groups and modules

_NUMERIC = (NUMEL, BYTES)
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


# -- formatting shared by the panels ---------------------------------------------------------------------
def format_count(n: int) -> str:
    """``1234567`` -> ``1,234,567``: element counts are read exactly, so no rounding."""
    return f"{n:,}"


def format_bytes(n: int) -> str:
    """``4915200`` -> ``4.7 MiB`` (binary units, as memory is sized)."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_shape(shape: tuple[int, ...]) -> str:
    """``(64, 3, 3, 3)`` -> ``64×3×3×3``; a 0-d tensor is ``scalar``."""
    return "×".join(str(d) for d in shape) if shape else "scalar"


def natural_key(text: str) -> tuple:
    """Sort key that orders ``layer2`` before ``layer10`` (digits compare as numbers)."""
    parts = re.split(r"(\d+)", text.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


# -- the Qt-free tree ------------------------------------------------------------------------------------
@dataclass(eq=False)
class EntryNode:
    """A row of the tree: a group, a module (one component of a dotted path) or a tensor entry.

    ``path`` is what the filter matches (``group/conv1.weight``); ``numel``/``nbytes``/``count`` add up the
    entries below a group or module. ``class_name`` is the module's class when the file says it.
    """

    name: str
    node_kind: str  # "root" | "group" | "module" | "entry"
    path: str = ""
    entry: TensorEntry | None = None
    class_name: str = ""
    parent: EntryNode | None = field(default=None, repr=False)
    children: list[EntryNode] = field(default_factory=list, repr=False)
    row: int = 0
    numel: int = 0
    nbytes: int = 0
    count: int = 0
    _modules: dict[str, EntryNode] = field(default_factory=dict, repr=False)

    def add(self, child: EntryNode) -> EntryNode:
        child.parent, child.row = self, len(self.children)
        self.children.append(child)
        if child.node_kind != "entry":
            self._modules[child.name] = child
        return child

    def module_child(self, name: str, kind: str, path: str) -> EntryNode:
        """The group/module child called ``name``, created on first use."""
        node = self._modules.get(name)
        return node if node is not None else self.add(EntryNode(name, kind, path))

    @property
    def search_text(self) -> str:
        """Lower-case text the filter looks in: the tree path, plus the stored name for entries."""
        extra = f" {self.entry.name}" if self.entry is not None else ""
        return f"{self.path}{extra}".lower()


def entry_path_parts(entry: TensorEntry) -> tuple[list[str], str]:
    """Module path components and leaf name of ``entry`` (falls back to splitting its name)."""
    if entry.attr:
        return (entry.module.split(".") if entry.module else []), entry.attr
    module, _, leaf = entry.name.rpartition(".")
    return (module.split(".") if module else []), leaf


def build_entry_tree(checkpoint: Checkpoint) -> EntryNode:
    """Group (when non-empty) > module path components > entry leaves, in the file's order."""
    root = EntryNode("", "root")
    for entry in checkpoint.entries:
        node, chain = root, [root]
        prefix = f"{entry.group}/" if entry.group else ""
        if entry.group:
            node = node.module_child(entry.group, "group", entry.group)
            node.class_name = node.class_name or checkpoint.class_of(entry.group, "")
            chain.append(node)
        parts, leaf = entry_path_parts(entry)
        for depth in range(len(parts)):
            module_path = ".".join(parts[: depth + 1])
            node = node.module_child(parts[depth], "module", prefix + module_path)
            node.class_name = node.class_name or checkpoint.class_of(entry.group, module_path)
            chain.append(node)
        path = prefix + ".".join([*parts, leaf])
        node.add(EntryNode(leaf, "entry", path, entry=entry, numel=entry.numel, nbytes=entry.nbytes, count=1))
        for ancestor in chain:
            ancestor.numel += entry.numel
            ancestor.nbytes += entry.nbytes
            ancestor.count += 1
    return root


def iter_nodes(node: EntryNode):
    """Every node below ``node`` (depth first, in order)."""
    for child in node.children:
        yield child
        yield from iter_nodes(child)


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
    if column == NAME:
        return node.name
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
        return entry.kind
    if column == TRAINABLE and entry.kind == "parameter":
        return "yes" if entry.requires_grad else "no"
    return ""


def tooltip_text(node: EntryNode) -> str:
    entry = node.entry
    if entry is None:
        what = f"{node.class_name} " if node.class_name else ""
        return (
            f"{node.path}\n{what}{node.count} tensors, {format_count(node.numel)} elements, "
            f"{format_bytes(node.nbytes)}"
        )
    return f"{entry.key}\n{format_shape(entry.shape)} {entry.dtype}, {format_count(entry.nbytes)} bytes"


# -- Qt models ---------------------------------------------------------------------------------------------
class EntryTreeModel(QAbstractItemModel):
    """Read-only item model over :func:`build_entry_tree`; the tree is rebuilt by :meth:`set_checkpoint`."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._root = EntryNode("", "root")
        self._checkpoint: Checkpoint | None = None
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)

    # -- data in --------------------------------------------------------------------------------------
    def set_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        self.beginResetModel()
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
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        return self.createIndex(row, column, self.node(parent).children[row])

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
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_text(node)
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
