"""Helpers the CLI verbs share: the FILE argument and loading with a one-line error (numbers: core.formatting)."""

from __future__ import annotations

import sys


def add_file_argument(parser) -> None:
    parser.add_argument("file", help="checkpoint file (.pth, .pt, .ckpt, .bin, .safetensors, ...)")
    parser.add_argument(
        "--trust", action="store_true",
        help="import the classes the file names (runs code from it); needed to run a pickled module",
    )  # fmt: skip


def load_or_fail(path: str, trust: bool = False, quiet: bool = True, resolve: bool = True):
    """The Checkpoint at ``path``; :class:`InspectorError` propagates to ``cli.main`` as ``error: ...``.

    ``resolve=False``: skip architecture matching, for verbs that only read tensors.
    """
    from inspector.core.checkpoint.loader import iter_load_checkpoint
    from inspector.core.jobs import run_job

    def show(progress):
        if not quiet:
            print(f"{progress.message}...", file=sys.stderr)

    return run_job(iter_load_checkpoint(path, trust=trust, resolve=resolve), show)
