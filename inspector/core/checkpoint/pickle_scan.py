"""Read a pickle's opcodes without building anything: which globals it names, how many objects, how deep.

Refusing a file only after it has been unpickled is too late: whatever the unpickling did has happened. So
every pickle stream (the outer one and each nested payload) is first walked with :func:`pickletools.genops`
on a symbolic stack: strings keep their value (``STACK_GLOBAL`` takes module and name from the stack, often
through the memo), every container or object is a node that remembers the nodes put into it, and everything
else is a leaf. Afterwards the longest chain of containment is measured on that graph, so a list nested a
million levels through the memo is caught while the stack itself stays two items tall.

The scan decides: dangerous globals, too many opcodes, too deep, out-of-band buffers and copyreg extension
codes are refused here, with the file named and nothing built.
"""

from __future__ import annotations

import _compat_pickle
import pickletools
from dataclasses import dataclass, field

from inspector.core.errors import InspectorError
from inspector.core.jobs import cancel_point
from inspector.core.limits import Limits, setting

CANCEL_EVERY_OPS = 0xFFF  # check for a stop request every 4,096 operations (~2 ms of scanning)

_STRINGS = {
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
}  # fmt: skip
_LEAVES = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT", "NONE", "NEWTRUE",
    "NEWFALSE", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
}  # fmt: skip
_EMPTY = {"EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET", "EMPTY_TUPLE"}
_FROM_MARK = {"LIST", "DICT", "TUPLE", "FROZENSET"}
_INTO_TOP_FROM_MARK = {"APPENDS", "SETITEMS", "ADDITEMS"}
_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET = {"GET", "BINGET", "LONG_BINGET"}
_REFUSED = {"EXT1": "copyreg extension codes", "EXT2": "copyreg extension codes",
            "EXT4": "copyreg extension codes", "NEXT_BUFFER": "out-of-band buffers",
            "READONLY_BUFFER": "out-of-band buffers"}  # fmt: skip


class _Node:
    """A container or object the pickle would build; ``kids`` are the nodes put into it.

    ``down`` and ``up`` are lower bounds of the longest chain below and above it (itself included), kept as
    nodes are filled: a chain built bottom-up (contents first, the usual order) or top-down (a container
    filled after it was put in its parent) is refused as soon as it passes the limit, long before the end
    of the stream; :func:`_longest_chain` measures the rest at the end."""

    __slots__ = ("kids", "down", "up")

    def __init__(self, kids=()):
        self.kids = [k for k in kids if isinstance(k, _Node)]
        self.down = 1 + max((k.down for k in self.kids), default=0)
        self.up = 1
        for k in self.kids:
            if k.up < 2:
                k.up = 2


class _TooDeep(Exception):
    pass


_LEAF = object()


@dataclass
class PickleScan:
    """What a pickle stream names and would build."""

    globals: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)  # globals that are called (REDUCE/NEWOBJ/INST/OBJ)
    ops: int = 0
    objects: int = 0
    depth: int = 0
    persistent_ids: int = 0
    end: int = 0  # offset just past STOP


def scan_pickle(data, path: str, limits: Limits, start: int = 0) -> PickleScan:
    """Scan the pickle stream at ``data[start:]`` (bytes, memoryview or mmap) and check it against ``limits``.

    Raises :class:`InspectorError` for a malformed stream or one over budget; dangerous globals are left to the
    caller (it names them in its refusal). Returns the :class:`PickleScan`.
    """
    from inspector.core.checkpoint.safe_unpickle import BoundedReader

    reader = BoundedReader(data, start)
    scan = PickleScan()
    stack: list = []
    marks: list[int] = []
    memo: dict = {}
    nodes: list[_Node] = []
    limit = limits.max_pickle_depth

    def node(kids=()) -> _Node:
        made = _Node(kids)
        if made.down > limit:
            raise _TooDeep(made.down)
        nodes.append(made)
        return made

    def pop_mark() -> list:
        if not marks:
            raise ValueError("mark expected")
        at = marks.pop()
        items = stack[at:]
        del stack[at:]
        return items

    def pop():
        if not stack:
            raise ValueError("stack underflow")
        return stack.pop()

    try:
        for opcode, arg, _pos in pickletools.genops(reader):
            scan.ops += 1
            if not scan.ops & CANCEL_EVERY_OPS:
                cancel_point()  # a 2,000-entry pickle is ~60,000 operations: stop within milliseconds
            if scan.ops > limits.max_pickle_ops:
                raise InspectorError(
                    f"{path}: the pickle has more than {limits.max_pickle_ops:,} operations; if you trust its "
                    f"size, raise {setting('max_pickle_ops')}"
                )
            name = opcode.name
            if name in _STRINGS:
                stack.append(arg if isinstance(arg, str) else _LEAF)
            elif name in _LEAVES:
                stack.append(_LEAF)
            elif name == "MARK":
                marks.append(len(stack))
            elif name in _EMPTY:
                stack.append(node())
            elif name in _FROM_MARK:
                stack.append(node(pop_mark()))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                count = int(name[-1])
                items = [pop() for _ in range(count)][::-1]
                stack.append(node(items))
            elif name in ("APPEND", "BUILD"):
                value = pop()
                _add(stack, limit, value)
            elif name == "SETITEM":
                value, key = pop(), pop()
                _add(stack, limit, key, value)
            elif name in _INTO_TOP_FROM_MARK:
                _add(stack, limit, *pop_mark())
            elif name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
                stack.append(_global(scan, module, attr))
            elif name == "STACK_GLOBAL":
                attr, module = pop(), pop()
                if not (isinstance(module, str) and isinstance(attr, str)):
                    raise ValueError("STACK_GLOBAL needs two strings")
                stack.append(_global(scan, module, attr))
            elif name == "INST":
                module, _, attr = str(arg).partition(" ")
                scan.calls.add(_global(scan, module, attr))
                stack.append(node(pop_mark()))
            elif name == "OBJ":
                items = pop_mark()
                if items and isinstance(items[0], _Global):
                    scan.calls.add(items[0])
                stack.append(node(items[1:]))
            elif name in ("REDUCE", "NEWOBJ"):
                args, func = pop(), pop()
                if isinstance(func, _Global):
                    scan.calls.add(func)
                stack.append(node([args]))
            elif name == "NEWOBJ_EX":
                kwargs, args, cls = pop(), pop(), pop()
                if isinstance(cls, _Global):
                    scan.calls.add(cls)
                stack.append(node([args, kwargs]))
            elif name == "PERSID":
                scan.persistent_ids += 1
                stack.append(node())
            elif name == "BINPERSID":
                scan.persistent_ids += 1
                stack.append(node([pop()]))
            elif name in _PUT:
                if not stack:
                    raise ValueError("memo put on an empty stack")
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                if not stack:
                    raise ValueError("memo put on an empty stack")
                memo[len(memo)] = stack[-1]
            elif name in _GET:
                if arg not in memo:
                    raise ValueError(f"memo key {arg} missing")
                stack.append(memo[arg])
            elif name == "POP":
                if stack and (not marks or len(stack) > marks[-1]):
                    stack.pop()
                else:
                    pop_mark()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(stack[-1] if stack else _LEAF)
            elif name in _REFUSED:
                raise InspectorError(
                    f"{path}: refused: the pickle uses {_REFUSED[name]}, which no checkpoint needs; "
                    "nothing was executed"
                )
            elif name == "STOP":
                scan.end = reader.tell()
                break
            # PROTO, FRAME: nothing to track
    except InspectorError:
        raise
    except _TooDeep as deep:
        _too_deep(path, deep.args[0], limits)
    except (ValueError, IndexError, KeyError, TypeError, EOFError, OverflowError, UnicodeDecodeError) as exc:
        raise InspectorError(
            f"{path}: cannot read it as a PyTorch checkpoint; its pickle is truncated or corrupt ({exc}); "
            "re-download it or save it again"
        ) from None
    if not scan.end:
        raise InspectorError(f"{path}: the pickle ends without a STOP: truncated; re-download it")
    scan.objects = len(nodes)
    scan.calls = {str(c) for c in scan.calls}
    scan.depth = _longest_chain(nodes)
    if scan.depth > limits.max_pickle_depth:
        _too_deep(path, scan.depth, limits)
    return scan


def _too_deep(path: str, depth: int, limits: Limits):
    raise InspectorError(
        f"{path}: refused: the pickle nests objects more than {limits.max_pickle_depth:,} levels deep; nothing "
        f"was built; raise {setting('max_pickle_depth')} if you trust it"
    )


class _Global(str):
    """A global's dotted name on the symbolic stack (a str subclass, so it is never taken for a plain string)."""


def _global(scan: PickleScan, module: str, attr: str) -> _Global:
    module, attr = _compat_pickle.NAME_MAPPING.get((module, attr), (module, attr))  # Python 2 names
    module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    name = _Global(f"{module}.{attr}")
    scan.globals.add(str(name))
    return name


def _add(stack: list, limit: int, *values) -> None:
    if not stack:
        raise ValueError("stack underflow")
    target = stack[-1]
    if isinstance(target, _Node):
        for v in values:
            if isinstance(v, _Node):
                target.kids.append(v)
                if target.up + v.down > limit:
                    raise _TooDeep(target.up + v.down)
                if v.down >= target.down:
                    target.down = v.down + 1
                if target.up >= v.up:
                    v.up = target.up + 1


def _longest_chain(nodes: list[_Node]) -> int:
    """The longest path of containment in the node graph (a node on the current path counts as a leaf, so
    cycles end the chain); iterative, linear in nodes plus edges."""
    height: dict[int, int] = {}
    on_path: set[int] = set()
    best = 0
    for root in nodes:
        if id(root) in height:
            continue
        work = [(root, 0)]
        on_path.add(id(root))
        while work:
            current, index = work[-1]
            if index < len(current.kids):
                work[-1] = (current, index + 1)
                kid = current.kids[index]
                if id(kid) not in height and id(kid) not in on_path:
                    on_path.add(id(kid))
                    work.append((kid, 0))
                continue
            work.pop()
            on_path.discard(id(current))
            h = 1 + max((height.get(id(k), 0) for k in current.kids), default=0)
            height[id(current)] = h
            best = max(best, h)
    return best
