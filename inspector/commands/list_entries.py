"""``inspector list FILE [--json] [--trust]``: every tensor entry, totals and metadata of a checkpoint."""

from __future__ import annotations

import json
import sys

from inspector.commands.common import add_file_argument, load_or_fail
from inspector.core.checkpoint.model import totals_line
from inspector.core.formatting import format_bytes, format_count_short


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list the tensors, totals and metadata of a checkpoint")
    add_file_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(run=run)


def run(args) -> int:
    ckpt = load_or_fail(args.file, trust=args.trust)
    if args.json:
        json.dump(ckpt.to_json(), sys.stdout, indent=1, allow_nan=False, default=str)
        sys.stdout.write("\n")
        return 0
    print_table(ckpt)
    return 0


def print_table(ckpt) -> None:
    t = ckpt.totals
    layout = [part for part in (ckpt.container, ckpt.compression) if part and part != ckpt.format]
    header = f"{ckpt.path}: {ckpt.format}" + (
        f" ({', '.join(layout)})" if layout else ""
    )  # not "torchscript (torchscript)"
    if ckpt.architecture:
        header += f", architecture {ckpt.architecture}"
    print(header)
    rows = [("group", "name", "shape", "dtype", "numel", "size", "kind", "grad")]
    for e in ckpt.entries:
        name = f"{e.name} ({e.state_label})" if e.state_label else e.name  # state.0.exp_avg (exp_avg of ...)
        rows.append((e.group, name, "x".join(map(str, e.shape)) or "scalar", e.dtype, format_count_short(e.numel),
                     format_bytes(e.nbytes), e.kind_label, "yes" if e.requires_grad else "no"))  # fmt: skip
    if not any(r[0] for r in rows[1:]):
        rows = [r[1:] for r in rows]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(totals_line(t))
    for key, value in ckpt.metadata.items():
        text = json.dumps(value, default=str)
        print(f"{key}: {text if len(text) <= 200 else text[:197] + '...'}")
    if ckpt.stubbed_globals:
        print("imports on trust: " + ", ".join(ckpt.stubbed_globals))
