"""``inspector diff A B [--json]``: which tensors changed between two checkpoints, and by how much.

The table is read as the compare window reads (:func:`~inspector.core.analysis.diff_order.review_key`: changed
first, parameters before buffers before optimizer state, largest relative change first); ``--sort rel_l2`` gives
the plain relative-L2 order. ``--json`` prints
``{"tensors": [{"name", "changed", "max_abs", "rel_l2", ...}], "only_in_a": [...], "only_in_b": [...],
"shape_mismatch": [...], "identical": bool}`` with null where a number has no meaning. Identical files print one
"identical: ..." line instead of a table of unchanged rows, and files that share no tensor name one "different:
... share no tensor names (N only in A, M only in B)" line instead of an empty table.

Exit status follows diff(1) and cmp(1), so scripts can test it: 0 when every tensor is equal, 1 when something
differs, 2 on an error (one ``error:`` line).
"""

from __future__ import annotations

import json
import sys

ONLY_IN_SHOWN = 8  # names listed per "only in" line of the table; --json has them all
EXIT_IDENTICAL, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2  # diff(1)/cmp(1)
EXIT_STATUS_HELP = (
    "exit status (like diff(1) and cmp(1)): 0 when every tensor is equal, 1 when something differs "
    "(a changed value, a shape mismatch, a tensor in one file only), 2 on an error"
)


def add_parser(sub) -> None:
    p = sub.add_parser("diff", help="compare the tensors of two checkpoints", epilog=EXIT_STATUS_HELP)
    p.add_argument("file", metavar="A", help="first checkpoint (the reference: rel_l2 is relative to it)")
    p.add_argument("file_b", metavar="B", help="second checkpoint")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--changed", action="store_true", help="list only tensors that changed")
    p.add_argument("--sort", choices=("kind", "rel_l2"), default="kind",
                   help="table order: kind (parameters, buffers, then the rest, as the GUI) or rel_l2 (default: %(default)s)")  # fmt: skip
    p.add_argument(
        "--trust", action="store_true", help="import the classes the files name (runs code from them)"
    )
    p.set_defaults(run=run, error_exit_code=EXIT_ERROR)


def sort_key(row) -> tuple:
    """Most changed first: shape mismatches, then rel_l2 descending (None: a change from all-zero a)."""
    if row.shape_mismatch:
        return (0, 0.0)
    if row.rel_l2 is None:
        return (1, 0.0)
    return (2, -row.rel_l2, -(row.max_abs or 0.0))


def run(args) -> int:
    from inspector.core.analysis.diff import iter_diff_files
    from inspector.core.analysis.diff_order import entry_kinds
    from inspector.core.jobs import run_job

    result, ckpt_a, ckpt_b = run_job(iter_diff_files(args.file, args.file_b, trust=args.trust))
    kinds = entry_kinds(result, ckpt_a, ckpt_b) if getattr(args, "sort", "kind") == "kind" else None
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    elif result.identical:
        print_identical(result)
    else:
        print_table(result, changed_only=args.changed, kinds=kinds)
    return EXIT_IDENTICAL if result.identical else EXIT_DIFFERENT


def print_identical(result) -> None:
    """One line rather than a table of "no" rows: nothing differs, so there is nothing to rank."""
    from inspector.core.formatting import plural

    print(f"identical: {result.path_a} and {result.path_b}, {plural(len(result.tensors), 'tensor')} equal")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _num(x) -> str:
    return "-" if x is None else f"{x:.4g}"


def print_no_shared_names(result) -> None:
    """Two files without a tensor name in common have nothing to compare: one line that says so (and how many
    names each holds alone) instead of an empty table; the exit status is still "different"."""
    print(
        f"different: {result.path_a} and {result.path_b} share no tensor names ({len(result.only_in_a)} only "
        f"in A, {len(result.only_in_b)} only in B); nothing to compare value by value (--json lists the names)"
    )
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def print_table(result, changed_only: bool = False, kinds: dict[str, str] | None = None) -> None:
    """``kinds`` (match name -> parameter/buffer/...): the GUI's reading order; None: by ``sort_key``."""
    from inspector.core.analysis.diff_order import table_order

    if not result.tensors:
        print_no_shared_names(result)
        return
    rows = table_order(result, kinds) if kinds is not None else sorted(result.tensors, key=sort_key)
    if changed_only:
        rows = [r for r in rows if r.changed]
    table = [("name", "shape", "changed", "max|a-b|", "rel_l2", "elements changed")]
    for r in rows:
        shape = "x".join(map(str, r.shape_a)) or "scalar"
        status = "yes" if r.changed else "no"
        if r.shape_mismatch:
            shape, status = f"{shape} vs {'x'.join(map(str, r.shape_b)) or 'scalar'}", "SHAPE"
        pct = "-" if r.changed_pct is None else f"{r.changed_pct:.3g}%"
        table.append((r.display_name, shape, status, _num(r.max_abs), _num(r.rel_l2), pct))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print(f"A: {result.path_a}\nB: {result.path_b}")
    if len(table) > 1:
        for row in table:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    else:  # --changed, and every shared tensor is equal: the differences are names in one file only
        print("no shared tensor changed")
    print(result.summary_line())
    for label, names in (("only in A", result.only_in_a), ("only in B", result.only_in_b)):
        if names:
            shown = ", ".join(result.only_display(n) for n in names[:ONLY_IN_SHOWN])
            more = (
                f", … and {len(names) - ONLY_IN_SHOWN} more (--json lists all)"
                if len(names) > ONLY_IN_SHOWN
                else ""
            )
            print(f"{label} ({len(names)}): {shown}{more}")
    for note in result.notes:
        print(f"note: {note}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
