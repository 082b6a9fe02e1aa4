"""``inspector verify FILE [--json]``: every zip record against its CRC-32, every tensor against its storage.

Exit codes follow ``diff`` (and diff(1)), so that scripts can tell the three apart: 0 when everything checks,
1 when damage was found (each damaged record is named with the tensors that use it), 2 when the file could not
be checked at all (the usual one-line ``error: ...`` on stderr; with ``--json`` also a JSON object on stdout
with ``"ok": false`` and that line as ``"error"``).
"""

from __future__ import annotations

import json
import sys

EXIT_OK, EXIT_DAMAGED, EXIT_ERROR = 0, 1, 2


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check CRC-32s and storage bounds; name the damaged tensors",
        description="Check every zip record's CRC-32 and every tensor's storage bounds. Exit 0: ok; "
        "1: damage found (named by tensor); 2: the file could not be checked (one-line error on stderr).",
    )
    p.add_argument("file", help="checkpoint file (.pth, .pt, .ckpt, .bin, .safetensors, ...)")
    p.add_argument(
        "--json", action="store_true", help="print one JSON object (also when the file cannot be checked)"
    )
    p.set_defaults(run=run, error_exit_code=EXIT_ERROR)


def run(args) -> int:
    from inspector.core.checkpoint.verify import VerifyReport, verdict_line, verify_checkpoint
    from inspector.core.errors import InspectorError

    try:
        report = verify_checkpoint(args.file)
    except InspectorError as exc:  # the CLI prints the one line on stderr and exits 2
        if args.json:
            _print_json({**VerifyReport(file=args.file).to_json(), "ok": False, "error": exc.message})
        raise
    if args.json:
        _print_json(report.to_json())
    else:
        for damaged in report.damaged:
            print(damaged.line())
        for note in report.notes:
            print(f"note: {note}")
        for note in report.unchecked:
            print(f"not checked: {note}")
        print(verdict_line(report))
    return EXIT_OK if report.ok else EXIT_DAMAGED


def _print_json(obj: dict) -> None:
    json.dump(obj, sys.stdout, indent=1)
    sys.stdout.write("\n")
