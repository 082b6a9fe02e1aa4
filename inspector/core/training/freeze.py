"""Which parameters train and which stay frozen, decided from glob patterns over parameter and module names.

A pattern matches a parameter's name (``conv1.weight``), or a module's name (``conv1``, ``layer1.0``): a matched
module freezes its parameters *and* its buffers. "Frozen" is enforced three ways by the training loop:
``requires_grad=False``, the parameter is not handed to the optimizer, and BatchNorm layers whose parameters are
all frozen stay in eval mode so their running statistics do not move (unless the user lets them update).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

from inspector.core.errors import Fix, InspectorError


def parse_patterns(text: str | list[str] | None) -> list[str]:
    """``"conv*,bn1.*"`` -> ``["conv*", "bn1.*"]`` (blank items dropped)."""
    items = text if isinstance(text, list) else (text or "").split(",")
    return [p.strip() for p in items if p and p.strip()]


PATTERN_SUBJECT = Fix(cli="--freeze pattern", gui="Freeze pattern")
ALL_BUT_LAST_SUBJECT = Fix(cli="--freeze-all-but-last", gui="All but last N")


def check_patterns(patterns: list[str]) -> None:
    """Refuse a pattern :mod:`fnmatch` would silently take literally: a ``[`` without its closing ``]``."""
    for pattern in patterns:
        if _open_bracket(pattern):
            raise InspectorError(f"'{pattern}' is an invalid glob pattern (a [ without its closing ])", Fix(
                cli="close the set, e.g. 'conv[12]*', or drop the [",
                gui="close the set, e.g. conv[12]*, or drop the ["), subject=PATTERN_SUBJECT)  # fmt: skip


def _open_bracket(pattern: str) -> bool:
    """A ``[`` set that never closes (``]`` right after ``[`` or ``[!`` is a member, as in fnmatch)."""
    i = 0
    while i < len(pattern):
        if pattern[i] != "[":
            i += 1
            continue
        j = i + 1
        j += pattern.startswith("!", j)
        j += pattern.startswith("]", j)
        close = pattern.find("]", j)
        if close < 0:
            return True
        i = close + 1
    return False


def _matches(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@dataclass(frozen=True)
class FreezePlan:
    """The frozen and trainable parameter names, and the frozen state-dict names (parameters and buffers)."""

    frozen: tuple[str, ...]
    trainable: tuple[str, ...]
    frozen_state: tuple[str, ...]  # every state_dict key that must come out bitwise unchanged
    frozen_modules: tuple[
        str, ...
    ]  # modules all of whose parameters are frozen (BatchNorm there stays in eval)

    def counts(self, module) -> tuple[int, int]:
        """(trainable, frozen) parameter element counts."""
        params = dict(module.named_parameters())
        return (sum(params[n].numel() for n in self.trainable), sum(params[n].numel() for n in self.frozen))


def plan_freeze(
    module, patterns: list[str], all_but_last: int | None = None, new_head: str | None = None
) -> FreezePlan:
    """The plan for ``module``: patterns over parameter/module names, or every module but the last N with
    parameters. A pattern that matches nothing is an error (a typo would otherwise train everything).
    ``new_head``: the module a fresh head replaced (``--new-head``): its parameters always train (random
    weights left frozen would be useless), whatever froze the old head."""
    check_patterns(patterns)
    modules = dict(module.named_modules())
    params = dict(module.named_parameters())
    frozen_modules = {name for name in modules if name and _matches(name, patterns)}
    if all_but_last is not None:
        with_params = [n for n, m in modules.items() if n and any(True for _ in m.parameters(recurse=False))]
        if not 0 <= all_but_last <= len(with_params):
            raise InspectorError(
                f"{all_but_last}: the model has {len(with_params)} modules with parameters "
                f"({', '.join(with_params[-3:])} last); give 0 to {len(with_params)}",
                subject=ALL_BUT_LAST_SUBJECT,
            )
        frozen_modules |= set(with_params[: len(with_params) - all_but_last])
    unused = [p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in (*modules, *params) if n)]
    if unused:
        raise InspectorError(
            f"{', '.join(repr(p) for p in unused)} matches no parameter or module; names look "
            f"like {', '.join(list(params)[:4])}",
            subject=PATTERN_SUBJECT,
        )

    def under_frozen(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in frozen_modules)

    frozen = [n for n in params if _matches(n, patterns) or under_frozen(n.rpartition(".")[0])]
    if new_head is not None:
        frozen = [n for n in frozen if not _is_under(n, new_head)]
    state_keys = list(module.state_dict())
    all_frozen_modules = [
        n for n, m in modules.items()
        if n and (ps := [f"{n}.{p}" for p, _ in m.named_parameters()]) and all(p in frozen for p in ps)
    ]  # fmt: skip
    fully_frozen = set(all_frozen_modules)
    frozen_state = [
        k for k in state_keys
        if (k in frozen or _matches(k, patterns) or under_frozen(k.rpartition(".")[0])
            or k.rpartition(".")[0] in fully_frozen) and not (new_head is not None and _is_under(k, new_head))
    ]  # fmt: skip
    return FreezePlan(tuple(frozen), tuple(n for n in params if n not in frozen), tuple(frozen_state),
                      tuple(all_frozen_modules))  # fmt: skip


def _is_under(name: str, module: str) -> bool:
    """``name`` (a parameter or a module) is ``module`` or inside it."""
    return name == module or name.startswith(module + ".")


def head_of(shapes: dict[str, tuple[int, ...]]) -> str:
    """The module ``--new-head`` replaces, from parameter names and shapes alone: the last module with a 2-D
    ``weight`` (a Linear layer's; ``replace_head`` takes the last ``nn.Linear``); "" when there is none."""
    heads = [n.rpartition(".")[0] for n, shape in shapes.items() if n.endswith(".weight") and len(shape) == 2]
    return heads[-1] if heads else ""


def new_head_sizes(shapes: dict[str, tuple[int, ...]], classes: int) -> dict[str, int]:
    """The replaced head's parameter names with their sizes after ``--new-head classes``: ``weight`` is
    ``classes x in_features``, ``bias`` ``classes``. Empty when no head is found."""
    head = head_of(shapes)
    if not head:
        return {}
    in_features = shapes[f"{head}.weight"][1]
    sizes = {f"{head}.weight": classes * in_features}
    if f"{head}.bias" in shapes:
        sizes[f"{head}.bias"] = classes
    return sizes


def apply_freeze(module, plan: FreezePlan) -> None:
    """``requires_grad`` off for the frozen parameters, on for the rest."""
    frozen = set(plan.frozen)
    for name, param in module.named_parameters():
        param.requires_grad_(name not in frozen)


def set_train_mode(module, plan: FreezePlan, update_frozen_bn: bool = False) -> None:
    """``module.train()``, then BatchNorm layers of frozen modules back to eval (their statistics stay put)."""
    import torch

    module.train()
    if update_frozen_bn:
        return
    frozen = set(plan.frozen_modules)
    for name, layer in module.named_modules():
        if name in frozen and isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.eval()


def frozen_by_names(names: list[str], patterns: list[str], all_but_last: int | None = None) -> set[str]:
    """The parameter names that ``patterns`` / "all but the last N modules" freeze, from names alone (no
    module, no torch): what the GUI shows live while the user types or ticks. Modules are the names' prefixes."""
    modules: list[str] = []
    for name in names:
        module = name.rpartition(".")[0]
        if module and module not in modules:
            modules.append(module)
    frozen_modules = {m for m in modules if _matches(m, patterns)}
    frozen_modules |= {p for m in modules for p in _ancestors(m) if _matches(p, patterns)}
    if all_but_last is not None:
        frozen_modules |= set(modules[: max(0, len(modules) - all_but_last)])

    def under(module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in frozen_modules)

    return {n for n in names if _matches(n, patterns) or under(n.rpartition(".")[0])}


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def count_by_names(
    parameters: dict[str, int],
    patterns: list[str],
    all_but_last: int | None = None,
    new_head: dict[str, int] | None = None,
) -> tuple[int, int]:
    """(trainable, frozen) element counts of :func:`frozen_by_names`. ``new_head``
    (:func:`new_head_sizes`): the head's parameters replaced by fresh ones of these sizes, which train."""
    new_head = new_head or {}
    frozen = frozen_by_names(list(parameters), patterns, all_but_last) - set(new_head)
    sizes = {**parameters, **new_head}
    frozen_size = sum(size for name, size in sizes.items() if name in frozen)
    return sum(sizes.values()) - frozen_size, frozen_size


def patterns_for(frozen: set[str], names: list[str]) -> list[str]:
    """The shortest list of module and parameter names that freezes exactly ``frozen`` among ``names``: a
    module whose parameters are all frozen is named once (which also keeps its buffers), others name their
    frozen parameters. What ticking boxes in the GUI's tree writes back into the pattern box."""
    children: dict[str, list[str]] = {}
    for name in names:
        parts = name.split(".")
        for depth in range(len(parts)):
            parent, child = ".".join(parts[:depth]), ".".join(parts[: depth + 1])
            siblings = children.setdefault(parent, [])
            if child not in siblings:
                siblings.append(child)
    leaves = set(names)

    def all_frozen(node: str) -> bool:
        if node in leaves:
            return node in frozen
        return all(all_frozen(c) for c in children.get(node, []))

    out: list[str] = []

    def walk(node: str) -> None:
        for child in children.get(node, []):
            if child in leaves:
                if child in frozen:
                    out.append(child)
            elif all_frozen(child):
                out.append(child)
            else:
                walk(child)

    walk("")
    return out
