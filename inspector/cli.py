"""``python -m inspector <verb>``: every capability of the core, headless.

Each verb lives in ``inspector/commands/<verb>.py`` with ``add_parser(subparsers)`` and ``run(args) -> int``.
Expected failures (:class:`InspectorError`) print one line ``error: ...`` on stderr and exit 1 (a verb whose
normal results use exit 1 sets ``error_exit_code``: ``diff`` exits 2, like diff(1)); no traceback.
torch is imported only inside the verbs that need it.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from inspector import __version__

# verb -> module under inspector.commands
COMMANDS = {
    "list": "list_entries",
    "stats": "stats",
    "summary": "summary",
    "filters": "filters",
    "diff": "diff",
    "features": "features",
    "finetune": "finetune",
    "verify": "verify",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inspector", description="Look inside PyTorch checkpoints.")
    parser.add_argument("--version", action="version", version=f"inspector {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module_name in COMMANDS.values():
        try:
            module = importlib.import_module(f"inspector.commands.{module_name}")
        except ModuleNotFoundError as exc:  # a verb still being written must not break the others
            if exc.name != f"inspector.commands.{module_name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from inspector.core.errors import InspectorError

    for stream in (sys.stdout, sys.stderr):  # a name the terminal's encoding lacks is escaped, not a crash
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except InspectorError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return getattr(args, "error_exit_code", 1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug of ours: still one line, never a traceback in the user's face
        where = getattr(args, "file", None) or "inspector"
        print(f"error: {where}: unexpected {type(exc).__name__}: {exc}; please report this", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
