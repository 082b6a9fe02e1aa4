"""The model tree of the Fine-tune tab, with a check box per module and parameter: ticked means frozen.

The same tree as the browser (:class:`~inspector.ui.entry_tree_model.EntryTreeModel`, built in core), over the
model's own weights only. The model holds no freeze logic of its own: the panel gives it the set of frozen
parameter names (computed by :func:`inspector.core.training.freeze.frozen_by_names` from the pattern box), and a
click asks for a new set through ``toggled``; the panel writes that set back as patterns
(:func:`~inspector.core.training.freeze.patterns_for`), so the box, the tree, the counts and "Copy as command"
always say the same thing.

Signals:
    toggled(object): the set of frozen parameter names the user asked for by ticking or unticking a box.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt, Signal

from inspector.core.checkpoint.entry_tree import EntryNode, iter_nodes
from inspector.ui.entry_tree_model import NAME, TRAINABLE, EntryTreeModel

CHECK = Qt.ItemDataRole.CheckStateRole


class FreezeTreeModel(EntryTreeModel):
    toggled = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._frozen: set[str] = set()
        self._params_below: dict[int, list[str]] = {}  # id(node) -> canonical parameter names under it
        self.parameter_names: list[str] = []

    def set_checkpoint(self, checkpoint) -> None:
        view = dataclasses.replace(checkpoint, entries=checkpoint.model_entries()) if checkpoint else None
        super().set_checkpoint(view)
        groups = self._root.children
        if len(groups) == 1 and groups[0].node_kind == "group":  # the model's group is the tree's root
            self.beginResetModel()
            self._root = groups[0]
            self._root.parent = None
            self.endResetModel()
        self._params_below.clear()
        self.parameter_names = (
            [e.canonical_name for e in view.entries if e.kind == "parameter"] if view else []
        )
        self._collect(self.root)

    def _collect(self, node: EntryNode) -> list[str]:
        if node.entry is not None:
            names = [node.entry.canonical_name] if node.entry.kind == "parameter" else []
        else:
            names = [n for child in node.children for n in self._collect(child)]
        self._params_below[id(node)] = names
        return names

    def set_frozen(self, frozen: set[str]) -> None:
        """Show ``frozen`` (parameter names) as ticked; buffers follow their module."""
        if frozen == self._frozen:
            return
        self._frozen = set(frozen)
        for node in [
            self.root,
            *iter_nodes(self.root),
        ]:  # every level: a check box's state follows its children
            if node.children:
                parent = self.index_of(node)
                last = len(node.children) - 1
                self.dataChanged.emit(self.index(0, NAME, parent), self.index(last, TRAINABLE, parent))

    @property
    def frozen(self) -> set[str]:
        return set(self._frozen)

    def state_of(self, node: EntryNode) -> Qt.CheckState | None:
        """Checked when everything under ``node`` is frozen, partly when some is; None: nothing to freeze."""
        if node.entry is not None and node.entry.kind != "parameter":
            parent = node.parent
            return None if parent is None else self.state_of(parent)
        names = self._params_below.get(id(node), [])
        if not names:
            return None
        frozen = sum(1 for n in names if n in self._frozen)
        if frozen == len(names):
            return Qt.CheckState.Checked
        return Qt.CheckState.PartiallyChecked if frozen else Qt.CheckState.Unchecked

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        node = self.node(index)
        if index.column() == NAME and self._params_below.get(id(node)):
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        node = self.node(index)
        if role == CHECK and index.column() == NAME and self._params_below.get(id(node)):
            return self.state_of(node)
        if role == Qt.ItemDataRole.DisplayRole and index.column() == TRAINABLE:
            state = self.state_of(node)
            if state is None:
                return ""
            if node.entry is not None and node.entry.kind != "parameter":
                return "stays" if state == Qt.CheckState.Checked else "updates"
            return {Qt.CheckState.Checked: "frozen", Qt.CheckState.PartiallyChecked: "partly"}.get(
                state, "trains"
            )
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == TRAINABLE:
            return "Tick a module or parameter to freeze it; a frozen module keeps its buffers too."
        return super().data(index, role)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        """The browser's headers, but the check boxes' meaning said where they are (a "Trainable" header over
        ticks that mean frozen read backwards): "Freeze ☑ / name" and "In training"."""
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            if section == NAME:
                return "☑ freeze · name"
            if section == TRAINABLE:
                return "In training"
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return "Tick a module or parameter to freeze it; a frozen module keeps its buffers too."
        return super().headerData(section, orientation, role)

    def setData(self, index: QModelIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != CHECK or index.column() != NAME:
            return False
        names = self._params_below.get(id(self.node(index)), [])
        if not names:
            return False
        freeze = Qt.CheckState(value) == Qt.CheckState.Checked
        self.toggled.emit(self._frozen | set(names) if freeze else self._frozen - set(names))
        return True

    def index_for_name(self, canonical_name: str) -> QModelIndex:
        for node in iter_nodes(self.root):
            if node.entry is not None and node.entry.canonical_name == canonical_name:
                return self.index_of(node)
        return QModelIndex()
