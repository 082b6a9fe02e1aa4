"""The order a diff is read in: what really changed first, the noise of zero-initialised tensors last.

Sorting by relative L2 alone puts every tensor that started at zero (BatchNorm biases and running means,
``num_batches_tracked``: ``rel_l2`` is ∞ when ``a = 0``) on top, and a resnet has ~60 of them, which buries
the conv weights that moved. :func:`review_order` sorts rows by status (changed, shape mismatches, in one
file only, unchanged), then parameters before buffers before other tensors (optimizer state...), then
finite changes before infinite ones, by relative change, largest first; file order breaks ties. The compare
window shows this order by default (Qt-free here, so the CLI can use it too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspector.core.analysis.diff import DiffResult, TensorDiff
    from inspector.core.checkpoint.model import Checkpoint

STATUS_RANK = {"changed": 0, "shape mismatch": 1, "only in A": 2, "only in B": 3, "unchanged": 4}
KIND_RANK = {"parameter": 0, "buffer": 1}  # everything else (optimizer state, plain tensors) after them


@dataclass(frozen=True)
class ReviewRow:
    """One row of a diff as it is read: a compared pair (``diff`` set) or a name found in one file only."""

    name: str
    status: str
    kind: str = ""
    diff: TensorDiff | None = None
    label: str = ""  # a name in one file only: its optimizer label ("step of conv1.weight")

    @property
    def comparable(self) -> bool:
        """Both files hold it with the same shape: there is an elementwise difference to show."""
        return self.diff is not None and not self.diff.shape_mismatch


def diff_status(diff: TensorDiff) -> str:
    return "shape mismatch" if diff.shape_mismatch else ("changed" if diff.changed else "unchanged")


def relative_change(diff: TensorDiff | None) -> float | None:
    """``rel_l2``, with ∞ for a change from an all-zero ``a``; None where it has no meaning."""
    if diff is None or diff.shape_mismatch:
        return None
    if diff.rel_l2 is not None:
        return diff.rel_l2
    return math.inf if diff.changed else None


def review_key(row: ReviewRow) -> tuple[int, int, int, float]:
    """Sort key: status, kind (parameter, buffer, other), finite before ∞ before none, then -rel L2."""
    rel = relative_change(row.diff)
    finiteness = 2 if rel is None else (1 if rel == math.inf else 0)
    return (
        STATUS_RANK.get(row.status, len(STATUS_RANK)),
        KIND_RANK.get(row.kind, len(KIND_RANK)),
        finiteness,
        -rel if rel is not None and finiteness == 0 else 0.0,
    )


def entry_kinds(result: DiffResult, ckpt_a: Checkpoint | None, ckpt_b: Checkpoint | None) -> dict[str, str]:
    """Match name -> kind (``parameter``, ``buffer``...) from file A, else file B; names of one file too."""
    kinds: dict[str, str] = {}
    for ckpt in (ckpt_b, ckpt_a):  # A last, so its kind wins
        if ckpt is None:
            continue
        for entry in ckpt.entries:
            kinds[ckpt.match_name(entry)] = entry.kind
    return {name: kinds.get(name, "") for name in _names(result)}


def _names(result: DiffResult) -> list[str]:
    return [t.name for t in result.tensors] + list(result.only_in_a) + list(result.only_in_b)


def review_rows(result: DiffResult, kinds: dict[str, str] | None = None) -> list[ReviewRow]:
    """Every row of ``result`` (pairs in file A's order, then A-only, then B-only), unsorted."""
    kinds = kinds or {}
    rows = [ReviewRow(t.name, diff_status(t), kinds.get(t.name, ""), t) for t in result.tensors]
    labels = result.only_labels
    rows += [
        ReviewRow(name, "only in A", kinds.get(name, ""), None, labels.get(name, ""))
        for name in result.only_in_a
    ]
    rows += [
        ReviewRow(name, "only in B", kinds.get(name, ""), None, labels.get(name, ""))
        for name in result.only_in_b
    ]
    return rows


def review_order(result: DiffResult, kinds: dict[str, str] | None = None) -> list[ReviewRow]:
    """:func:`review_rows` sorted by :func:`review_key` (stable: file order among equals)."""
    return sorted(review_rows(result, kinds), key=review_key)


def table_order(result: DiffResult, kinds: dict[str, str] | None = None) -> list[TensorDiff]:
    """The compared pairs of ``result`` in :func:`review_key` order: the CLI's diff table reads like the compare
    window (parameters, then buffers, then optimizer state and the rest), names in one file only aside."""
    kinds = kinds or {}
    return sorted(
        result.tensors, key=lambda t: review_key(ReviewRow(t.name, diff_status(t), kinds.get(t.name, ""), t))
    )
