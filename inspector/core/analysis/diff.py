"""What changed between two checkpoints (before/after a fine-tune, two epochs): per tensor, exactly.

Tensors are paired by :meth:`Checkpoint.match_name`, so the loader's prefix handling applies: a
``model_state_dict`` of a ``DataParallel`` model (``module.conv1.weight``) pairs with a plain ``conv1.weight``.

For each pair: ``changed`` (exact: any element differs; NaN equals NaN), ``max_abs`` = max |a - b| over elements
finite in both, ``rel_l2`` = ||a - b|| / ||a||. Numbers are computed in float64 from chunks of
:data:`CHUNK_ELEMENTS`, so memory stays bounded whatever the tensor size; integer and bool tensors are compared
exactly in their own dtype. :func:`iter_diff` is a job (see ``inspector.core.jobs``) yielding a record per
tensor (and per chunk of a big one), so the GUI shows progress and can cancel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from inspector.core.analysis.stats import CHUNK_ELEMENTS, as_plain_tensor
from inspector.core.errors import InspectorError
from inspector.core.jobs import Job, Progress, run_job

if TYPE_CHECKING:
    from inspector.core.checkpoint.model import Checkpoint, TensorEntry


@dataclass
class TensorDiff:
    """One tensor present in both files. Numbers are None where they have no meaning (shape mismatch, or
    ``rel_l2`` of a change from an all-zero ``a``)."""

    name: str  # the match name
    key_a: str
    key_b: str
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]
    dtype_a: str
    dtype_b: str
    changed: bool
    max_abs: float | None = 0.0
    rel_l2: float | None = 0.0
    l2_diff: float | None = 0.0
    l2_a: float | None = 0.0
    changed_elements: int | None = 0
    numel: int = 0
    nonfinite_mismatch: int = 0  # elements that differ where a or b is NaN/inf (not in max_abs)
    label: str = (
        ""  # optimizer state mapped to its parameter: "exp_avg of conv1.weight" (name keeps the index)
    )
    name_b: str = ""  # B's own match name where it differs (optimizer state paired by parameter, renumbered)

    @property
    def display_name(self) -> str:
        """``optimizer_state_dict/state.6.step ↔ state.0.step (step of fc1.weight)`` when B numbers the state
        otherwise (both keys: each file's own index stays visible); ``... (exp_avg of conv1.weight)`` or the
        plain name otherwise."""
        text = self.name
        if self.name_b and self.name_b != self.name:
            prefix, _, rest = self.name_b.rpartition("state.")
            short_b = f"state.{rest}" if rest and prefix == self.name.rpartition("state.")[0] else self.name_b
            text += f" ↔ {short_b}"
        return f"{text} ({self.label})" if self.label else text

    @property
    def shape_mismatch(self) -> bool:
        return self.shape_a != self.shape_b

    @property
    def changed_pct(self) -> float | None:
        if self.changed_elements is None:
            return None
        return 100.0 * self.changed_elements / self.numel if self.numel else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or None,
            "changed": self.changed,
            "max_abs": _clean(self.max_abs),
            "rel_l2": _clean(self.rel_l2),
            "l2_diff": _clean(self.l2_diff),
            "l2_a": _clean(self.l2_a),
            "changed_elements": self.changed_elements,
            "changed_pct": _clean(self.changed_pct),
            "nonfinite_mismatch": self.nonfinite_mismatch,
            "numel": self.numel,
            "shape_mismatch": self.shape_mismatch,
            "shape_a": list(self.shape_a),
            "shape_b": list(self.shape_b),
            "dtype_a": self.dtype_a,
            "dtype_b": self.dtype_b,
            "key_a": self.key_a,
            "key_b": self.key_b,
            "name_b": self.name_b or self.name,
        }


def _clean(x: float | None) -> float | None:
    """JSON has no NaN/Infinity: those become null."""
    return None if x is None or not math.isfinite(x) else x


@dataclass
class DiffResult:
    """Every pair in file A's order, plus the names found in one file only."""

    path_a: str
    path_b: str
    tensors: list[TensorDiff]
    only_in_a: list[str]
    only_in_b: list[str]
    warnings: list[str] = field(default_factory=list)
    only_labels: dict[str, str] = field(default_factory=dict)  # only-in name -> "step of conv1.weight"
    notes: list[str] = field(default_factory=list)  # how to read the result (a fresh optimizer in B)

    def only_display(self, name: str) -> str:
        """An only-in-A/B name with its optimizer label: ``.../state.0.step (step of conv1.weight)``."""
        label = self.only_labels.get(name, "")
        return f"{name} ({label})" if label and label not in name else name

    @property
    def shape_mismatch(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.shape_mismatch]

    @property
    def changed(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.changed]

    @property
    def identical(self) -> bool:
        """Every tensor equal and none in one file only: what ``diff`` exits 0 for."""
        return not (self.changed or self.only_in_a or self.only_in_b)

    def summary_line(self) -> str:
        """'5 tensors compared: 3 changed (1 shape mismatch), 2 unchanged; 1 only in A' - for table headers."""
        from inspector.core.formatting import plural

        changed, mismatched = len(self.changed), len(self.shape_mismatch)
        text = f"{plural(len(self.tensors), 'tensor')} compared: {changed} changed"
        text += f" ({plural(mismatched, 'shape mismatch', 'shape mismatches')})" if mismatched else ""
        text += f", {len(self.tensors) - changed} unchanged"
        only = [
            f"{len(names)} only in {label}"
            for label, names in (("A", self.only_in_a), ("B", self.only_in_b))
            if names
        ]
        return text + ("; " + ", ".join(only) if only else "")

    def row(self, name: str) -> TensorDiff:
        for t in self.tensors:
            if t.name == name:
                return t
        raise InspectorError(
            f"'{name}' is not in both {self.path_a} and {self.path_b}; pick a tensor they share"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "path_a": self.path_a,
            "path_b": self.path_b,
            "tensors": [t.to_json() for t in self.tensors],
            "only_in_a": list(self.only_in_a),
            "only_in_b": list(self.only_in_b),
            "shape_mismatch": [
                {"name": t.name, "shape_a": list(t.shape_a), "shape_b": list(t.shape_b)}
                for t in self.shape_mismatch
            ],
            "summary": {
                "compared": len(self.tensors),
                "changed": len(self.changed),
                "unchanged": len(self.tensors) - len(self.changed),
                "shape_mismatch": len(self.shape_mismatch),
                "only_in_a": len(self.only_in_a),
                "only_in_b": len(self.only_in_b),
            },
            "warnings": list(self.warnings),
            "only_in_labels": dict(self.only_labels),
            "notes": list(self.notes),
            "identical": self.identical,
        }


def _by_match_name(ckpt: Checkpoint, warnings: list[str]) -> dict[str, TensorEntry]:
    named: dict[str, TensorEntry] = {}
    for entry in ckpt.entries:
        name = ckpt.match_name(entry)
        if name in named:
            warnings.append(
                f"{ckpt.path}: '{entry.key}' and '{named[name].key}' both match as '{name}'; the first is compared"
            )
            continue
        named[name] = entry
    return named


def _state_key(entry: TensorEntry) -> tuple[str, str, str, str]:
    """(group, prefix, parameter, leaf) of optimizer state mapped to its parameter."""
    prefix = entry.name.rpartition("state.")[0]
    return entry.group, prefix, entry.state_of, entry.name.rpartition(".")[2]


def _pair_optimizer_state(a_named: dict, b_named: dict) -> dict:
    """B's match names, with optimizer state that both files map to parameters paired by parameter, not by
    index: a fine-tuned file's optimizer holds only the trained parameters, so its ``state.0`` is another
    parameter's than the base file's ``state.0``."""
    a_by_param = {_state_key(e): name for name, e in a_named.items() if e.state_of}
    if not a_by_param or not any(e.state_of for e in b_named.values()):
        return b_named
    paired: dict[str, TensorEntry] = {}
    for name, entry in b_named.items():
        if entry.state_of:
            name = a_by_param.get(_state_key(entry)) or f"{name} (B: {entry.state_label})"
        paired[name] = entry
    return paired


FRESH_OPTIMIZER_NOTE = (
    "the optimizer state of B is a new optimizer's (fine-tuning starts one): its moments are not comparable "
    "with A's"
)


def _fresh_optimizer(
    ckpt_a: Checkpoint, ckpt_b: Checkpoint, pairs: list[tuple[TensorEntry, TensorEntry]]
) -> bool:
    """B's optimizer was started anew: B was saved by ``finetune`` (it records ``base_sha256``) or every
    ``step`` B counts is smaller than A's for the same parameter. Only asked of state paired by parameter."""
    if not pairs:
        return False
    if isinstance(ckpt_b.metadata, dict) and ckpt_b.metadata.get("base_sha256"):
        return True
    steps = [(ea, eb) for ea, eb in pairs if ea.name.endswith(".step") and not ea.shape and not eb.shape]
    try:
        return bool(steps) and all(float(ckpt_b.tensor(eb)) < float(ckpt_a.tensor(ea)) for ea, eb in steps)
    except (TypeError, ValueError, RuntimeError):  # a step that is no number: say nothing
        return False


def iter_diff(ckpt_a: Checkpoint, ckpt_b: Checkpoint) -> Job[DiffResult]:
    """Compare every tensor the two checkpoints share; progress counts tensors (``done`` of ``total``)."""
    warnings: list[str] = []
    a_named, b_named = _by_match_name(ckpt_a, warnings), _by_match_name(ckpt_b, warnings)
    b_own_names = {id(e): name for name, e in b_named.items()}
    b_named = _pair_optimizer_state(a_named, b_named)
    shared = [name for name in a_named if name in b_named]
    rows = []
    for i, name in enumerate(shared):
        ea, eb = a_named[name], b_named[name]
        yield Progress(i, len(shared), f"comparing {name}")
        row = TensorDiff(
            name,
            ea.key,
            eb.key,
            tuple(ea.shape),
            tuple(eb.shape),
            ea.dtype,
            eb.dtype,
            changed=True,
            label=ea.state_label or eb.state_label,
            name_b=b_own_names.get(id(eb), name),
        )
        if row.shape_mismatch:
            row.max_abs = row.rel_l2 = row.l2_diff = row.l2_a = row.changed_elements = None
            row.numel = max(ea.numel, eb.numel)
        else:
            yield from _compare(row, ckpt_a.tensor(ea), ckpt_b.tensor(eb), i, len(shared))
        rows.append(row)
    yield Progress(len(shared), len(shared), "compared")
    only_in_a, only_in_b = [n for n in a_named if n not in b_named], [n for n in b_named if n not in a_named]
    only_labels = {n: a_named[n].state_label for n in only_in_a if a_named[n].state_label}
    only_labels |= {n: b_named[n].state_label for n in only_in_b if b_named[n].state_label}
    state_pairs = [(a_named[n], b_named[n]) for n in shared if a_named[n].state_of and b_named[n].state_of]
    notes = [FRESH_OPTIMIZER_NOTE] if _fresh_optimizer(ckpt_a, ckpt_b, state_pairs) else []
    return DiffResult(
        path_a=ckpt_a.path, path_b=ckpt_b.path, tensors=rows, only_in_a=only_in_a, only_in_b=only_in_b,
        warnings=warnings, only_labels=only_labels, notes=notes,
    )  # fmt: skip


def _flat(tensor):
    """Flat :func:`~inspector.core.analysis.stats.as_plain_tensor`: complex stays complex, so ``a - b`` is the true difference."""
    return as_plain_tensor(tensor).reshape(-1)


def _is_exact(t) -> bool:
    return not (t.dtype.is_floating_point or t.dtype.is_complex)


def _squared_norm(values) -> float:
    """sum |v|^2 without a squared copy (``vdot`` conjugates complex values); NaN/inf propagate."""
    import torch

    return float(torch.vdot(values, values).real) if values.numel() else 0.0


def _compare(row: TensorDiff, a, b, index: int, total: int):
    """Fill ``row`` from the chunks of ``a`` and ``b`` (same shape); yields between chunks of big tensors."""
    import torch

    fa, fb = _flat(a), _flat(b)
    n = fa.numel()
    exact = _is_exact(fa) and _is_exact(fb)
    wide = torch.complex128 if fa.dtype.is_complex or fb.dtype.is_complex else torch.float64
    max_abs, sq_diff, sq_a, changed, nonfinite = 0.0, 0.0, 0.0, 0, 0
    chunks = max(1, math.ceil(n / CHUNK_ELEMENTS))
    for c in range(chunks):
        ca, cb = (
            fa[c * CHUNK_ELEMENTS : (c + 1) * CHUNK_ELEMENTS],
            fb[c * CHUNK_ELEMENTS : (c + 1) * CHUNK_ELEMENTS],
        )
        if ca.dtype == cb.dtype and torch.equal(ca, cb):  # the usual unchanged chunk: only |a|^2 to add
            sq_a += _squared_norm(ca.to(wide))
            if chunks > 1:
                yield Progress(index, total, f"comparing {row.name} ({100 * (c + 1) // chunks}%)")
            continue
        exact_ne = ca != cb if exact else None  # integers: compared in their own dtypes (promoted by torch)
        ca, cb = ca.to(wide), cb.to(wide)
        d = (ca - cb).abs()
        top = float(d.max()) if d.numel() else 0.0
        if math.isfinite(top):  # every element finite in both: a - b == 0 exactly when a == b
            changed += int(torch.count_nonzero(exact_ne)) if exact else int(torch.count_nonzero(d))
            max_abs = max(max_abs, top)
            sq_diff += _squared_norm(d)
            sq_a += _squared_norm(ca)
        else:
            ne = exact_ne if exact else (ca != cb) & ~(torch.isnan(ca) & torch.isnan(cb))  # NaN equals NaN
            finite = torch.isfinite(d)
            changed += int(ne.sum())
            nonfinite += int((ne & ~finite).sum())
            d = torch.where(finite, d, 0.0)
            max_abs = max(max_abs, float(d.max()))
            sq_diff += float(d.square().sum())
            mag_a = ca.abs()
            sq_a += float(torch.where(torch.isfinite(mag_a), mag_a.square(), 0.0).sum())
        if chunks > 1:
            yield Progress(index, total, f"comparing {row.name} ({100 * (c + 1) // chunks}%)")
    row.changed, row.changed_elements, row.nonfinite_mismatch, row.numel = changed > 0, changed, nonfinite, n
    row.max_abs, row.l2_diff, row.l2_a = max_abs, math.sqrt(sq_diff), math.sqrt(sq_a)
    row.rel_l2 = row.l2_diff / row.l2_a if row.l2_a > 0 else (0.0 if row.l2_diff == 0 else None)


def iter_diff_files(
    path_a: str, path_b: str, trust: bool = False
) -> Job[tuple[DiffResult, Checkpoint, Checkpoint]]:
    """Load both files, then diff them: one job for the GUI, which keeps the checkpoints to draw differences."""
    from inspector.core.checkpoint.loader import iter_load_checkpoint

    ckpt_a = yield from _labelled(iter_load_checkpoint(str(path_a), trust=trust, resolve=False), "A")
    ckpt_b = yield from _labelled(iter_load_checkpoint(str(path_b), trust=trust, resolve=False), "B")
    result = yield from iter_diff(ckpt_a, ckpt_b)
    return result, ckpt_a, ckpt_b


def _labelled(job, label: str):
    """Pass a loader's progress through with 'A: '/'B: ' before its message."""
    while True:
        try:
            record = next(job)
        except StopIteration as stop:
            return stop.value
        yield Progress(record.done, record.total, f"{label}: {record.message}")


def diff_checkpoints(path_a: str, path_b: str, trust: bool = False) -> DiffResult:
    """The :class:`DiffResult` of two files, on this thread (the CLI's entry point)."""
    result, _, _ = run_job(iter_diff_files(path_a, path_b, trust))
    return result


def difference_tensor(ckpt_a: Checkpoint, ckpt_b: Checkpoint, name: str, name_b: str = ""):
    """``a - b`` for the pair matched as ``name`` (float32, float64 when either is float64), for drawing;
    ``name_b``: B's own match name where it differs (:attr:`TensorDiff.name_b`, renumbered optimizer state)."""
    import torch

    entries = {}
    for label, ckpt, wanted in (("A", ckpt_a, name), ("B", ckpt_b, name_b or name)):
        found = [e for e in ckpt.entries if ckpt.match_name(e) == wanted]
        if not found:
            raise InspectorError(
                f"{ckpt.path}: no tensor matches '{name}' (file {label}); pick a tensor both files hold"
            )
        entries[label] = found[0]
    a, b = _flat(ckpt_a.tensor(entries["A"])), _flat(ckpt_b.tensor(entries["B"]))
    if entries["A"].shape != entries["B"].shape:
        raise InspectorError(
            f"'{name}' has shape {list(entries['A'].shape)} in A and {list(entries['B'].shape)} in B; "
            "there is no elementwise difference to show"
        )
    wide = torch.float64 if torch.float64 in (a.dtype, b.dtype) else torch.float32
    if a.dtype.is_complex or b.dtype.is_complex:
        wide = torch.complex128
    return (a.to(wide) - b.to(wide)).reshape(tuple(entries["A"].shape))
