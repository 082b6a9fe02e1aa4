"""``inspector verify FILE [--json]``: every zip record against its CRC-32, every tensor against its storage.

Exit 0 when everything checks, 1 when damage was found (each damaged record is named with the tensors that use
it), and the usual one-line ``error: ...`` (exit 1) when the file cannot be read at all.
"""

from __future__ import annotations

import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="check CRC-32s and storage bounds; name the damaged tensors")
    p.add_argument("file", help="checkpoint file (.pth, .pt, .ckpt, .bin, .safetensors, ...)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from inspector.core.checkpoint.verify import verify_checkpoint

    report = verify_checkpoint(args.file)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        for damaged in report.damaged:
            print(damaged.line())
        for note in report.unchecked:
            print(f"not checked: {note}")
        print(report.summary_line())
    return 0 if report.ok else 1
