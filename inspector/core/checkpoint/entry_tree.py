"""The tree of a checkpoint's tensors without Qt: group > module path components > entry leaves.

:func:`build_entry_tree` turns a :class:`~inspector.core.checkpoint.model.Checkpoint` into plain
:class:`EntryNode` objects that the GUI's item model shows without copying; modules and groups hold the totals
of what is below them, so sorting by size at any level finds the heavy parts of a model. Kept in core so the
structure is tested without Qt and any other face (CLI, export) can walk the same tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspector.core.checkpoint.model import Checkpoint, TensorEntry


def natural_key(text: str) -> tuple:
    """Sort key that orders ``layer2`` before ``layer10`` (digits compare as numbers)."""
    parts = re.split(r"(\d+)", text.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


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
        extra = f" {self.entry.name} {self.entry.state_label}" if self.entry is not None else ""
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
