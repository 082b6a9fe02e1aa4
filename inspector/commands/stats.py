"""``inspector stats FILE [--tensor NAME] [--json]``: exact min/max/mean/std/%zeros/NaN/Inf per tensor.

A quantized tensor's statistics are of its dequantized values (as torch's ``.dequantize()`` gives them): its
line says so with the scale and zero point, and its JSON row has ``dequantized: true``, ``dequantized_note``
and ``quantization``.
"""

from __future__ import annotations

import json
import sys

from inspector.commands.common import add_file_argument, load_or_fail


def add_parser(sub) -> None:
    p = sub.add_parser("stats", help="exact statistics of one tensor or of every tensor")
    add_file_argument(p)
    p.add_argument("--tensor", action="append", metavar="NAME", help="only this tensor (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def run(args) -> int:
    from inspector.core.analysis.stats import tensor_stats
    from inspector.core.errors import InspectorError

    ckpt = load_or_fail(args.file, trust=args.trust, resolve=False)
    entries = [ckpt.entry(name) for name in args.tensor] if args.tensor else ckpt.entries
    rows = []
    for entry in entries:
        try:
            stats = tensor_stats(ckpt.tensor(entry)).to_json()
        except InspectorError as exc:  # one tensor that cannot be read (meta, over budget) spoils no other
            if args.tensor:
                raise InspectorError(f"{ckpt.path}: {entry.key}: {exc.message}") from None
            stats = {"error": exc.message}
        rows.append({"name": entry.name, "group": entry.group, **stats, **_dequantized_fields(entry)})
    if args.json:
        json.dump({"path": ckpt.path, "tensors": rows}, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
        return 0
    for r in rows:
        label = f"{r['group']}/{r['name']}" if r["group"] else r["name"]
        if r["dequantized"]:
            label += f", {r['dequantized_note']}"
        if "error" in r:
            print(f"{label}: not computed: {r['error']}")
            continue
        print(f"{label}: min {_g(r['min'])}  max {_g(r['max'])}  mean {_g(r['mean'])}  std {_g(r['std'])}  "
              f"zeros {r['zeros_pct']:.2f}%  nan {r['nan']}  inf {r['inf']}")  # fmt: skip
    return 0


def _dequantized_fields(entry) -> dict:
    """``dequantized``: the numbers are of ``(q - zero_point) * scale``, not of the stored integers (a
    quantized tensor); ``dequantized_note`` says with which scale and zero point (``quantization`` has them
    all)."""
    from inspector.core.checkpoint.packed_params import dequantized_note

    if not entry.quantized:
        return {"dequantized": False}
    note = dequantized_note(entry.dtype, entry.quantization)
    return {"dequantized": True, "dequantized_note": note, "quantization": entry.quantization}


def _g(x) -> str:
    return "n/a" if x is None else f"{x:.6g}"
