"""``inspector summary FILE [--trust]``: torchsummary's layer table, or the module tree when it cannot run."""

from __future__ import annotations

from inspector.commands.common import add_file_argument, load_or_fail


def add_parser(sub) -> None:
    p = sub.add_parser("summary", help="layer-by-layer summary (torchsummary) or the module tree")
    add_file_argument(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from inspector.core.models.summary import model_summary

    print(model_summary(load_or_fail(args.file, trust=args.trust)))
    return 0
