"""``inspector finetune FILE [--model-class PATH:CLASS] [--trust] --freeze PATTERNS --data KIND:DIR [--epochs N]
[--lr F] [--batch-size N] [--optimizer NAME] [--device auto|cpu|cuda] [--seed N] [--tensorboard DIR] --out OUT.pth
[--json]``.

Retrains the parameters that ``--freeze`` leaves trainable, checks that the frozen ones did not move (bitwise),
and saves a new checkpoint atomically. The same command runs under ``torchrun --nproc_per_node N``
(DistributedDataParallel; only rank 0 prints and writes).
"""

from __future__ import annotations

import json
import os
import sys

from inspector.commands.common import add_file_argument, load_or_fail
from inspector.core.formatting import plural

SGD_MOMENTUM = 0.9


def add_parser(sub) -> None:
    p = sub.add_parser("finetune", help="retrain the layers you do not freeze and save a new checkpoint")
    add_file_argument(p)
    p.add_argument(
        "--model-class", metavar="PATH:CLASS", help="class of a bare state dict's model (needs --trust)"
    )
    p.add_argument("--freeze", action="append", metavar="PATTERNS",
                   help="what is frozen: comma-separated glob patterns over parameter and module names, e.g. "
                        "'conv*,bn1.*'; repeat it to add more (default: nothing frozen)")  # fmt: skip
    p.add_argument(
        "--freeze-all-but-last",
        type=int,
        metavar="N",
        help="freeze every module but the last N (with --freeze: what either names is frozen)",
    )
    p.add_argument(
        "--data", required=True, metavar="KIND:DIR", help="mnist:DIR, fashion-mnist:DIR or folder:DIR"
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=1,
        metavar="N",
        help="passes over the training set (default: %(default)s)",
    )
    p.add_argument("--lr", type=float, default=1e-3, metavar="F", help="learning rate (default: %(default)s)")
    p.add_argument(
        "--batch-size", type=int, default=128, metavar="N", help="images per step (default: %(default)s)"
    )
    p.add_argument(
        "--optimizer",
        default="adam",
        choices=("sgd", "adam", "adamw"),
        help="SGD with momentum, Adam or AdamW (default: %(default)s)",
    )
    p.add_argument(
        "--momentum", type=float, metavar="F", help=f"SGD momentum, in [0, 1) (default: {SGD_MOMENTUM})"
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        metavar="F",
        help="L2 penalty, 0 or more (default: %(default)s)",
    )
    p.add_argument("--schedule", default="none", choices=("none", "step", "cosine"),
                   help="learning-rate schedule: StepLR or cosine annealing (default: %(default)s)")  # fmt: skip
    p.add_argument(
        "--device",
        default="auto",
        metavar="auto|cpu|cuda",
        help="where to train; auto: CUDA when present (default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the shuffling, the split and the new head (default: %(default)s)",
    )
    p.add_argument(
        "--limit", type=int, metavar="N", help="train and validate on at most N images each (quick runs)"
    )
    p.add_argument(
        "--new-head", type=int, metavar="CLASSES", help="replace the last Linear layer (new classes)"
    )
    p.add_argument("--update-frozen-bn", action="store_true",
                   help="let BatchNorm running statistics of frozen layers update (default: they stay put)")  # fmt: skip
    p.add_argument(
        "--tensorboard", metavar="DIR", help="write a TensorBoard log (scalars, histograms, hparams)"
    )
    p.add_argument(
        "--out", required=True, metavar="OUT.pth", help="the new checkpoint (never the input file)"
    )
    p.add_argument("--force", action="store_true", help="replace OUT if it exists (never the input file)")
    p.add_argument("--no-verify", action="store_true",
                   help="train even when verify finds damaged records in FILE (CRC mismatch)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def settings_from_args(args):
    """The run's settings, every numeric flag checked first (one message naming the flag and the file)."""
    from inspector.core.training.freeze import check_patterns, parse_patterns
    from inspector.core.training.settings import FinetuneSettings

    check_flags(args)
    patterns = list(dict.fromkeys(p for item in args.freeze or [] for p in parse_patterns(item)))
    check_patterns(patterns)
    return FinetuneSettings(
        data=args.data, freeze=tuple(patterns), all_but_last=args.freeze_all_but_last,
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, optimizer=args.optimizer,
        momentum=SGD_MOMENTUM if args.momentum is None else args.momentum, weight_decay=args.weight_decay,
        schedule=args.schedule, device=args.device, seed=args.seed, limit=args.limit, new_head=args.new_head,
        update_frozen_bn=args.update_frozen_bn, tensorboard=args.tensorboard, verify=not args.no_verify,
    )  # fmt: skip


def check_flags(args) -> None:
    """Refuse a bad number before anything is loaded or built (torch's own errors name no flag)."""
    import math

    from inspector.core.errors import InspectorError

    checks = [
        ("--epochs", args.epochs, args.epochs >= 1, "give at least 1"),
        ("--batch-size", args.batch_size, args.batch_size >= 1, "give at least 1"),
        ("--lr", args.lr, math.isfinite(args.lr) and args.lr > 0, "give a number above 0, e.g. 1e-3"),
        ("--weight-decay", args.weight_decay, math.isfinite(args.weight_decay) and args.weight_decay >= 0,
         "give 0 or more, e.g. 1e-4"),
        ("--momentum", args.momentum, args.momentum is None or (0 <= args.momentum < 1), "give a number in [0, 1)"),
        ("--freeze-all-but-last", args.freeze_all_but_last,
         args.freeze_all_but_last is None or args.freeze_all_but_last >= 0, "give 0 or more modules to keep training"),
        ("--new-head", args.new_head, args.new_head is None or args.new_head >= 2,
         "give the number of classes, at least 2"),
        ("--limit", args.limit, args.limit is None or args.limit >= 1,
         "give a number of images, at least 1 (leave it out to use them all)"),
    ]  # fmt: skip
    for flag, value, ok, fix in checks:
        if not ok:
            raise InspectorError(f"{args.file}: {flag} {value:g}: {fix}")
    if args.momentum is not None and args.optimizer != "sgd":
        raise InspectorError(f"{args.file}: --momentum applies to --optimizer sgd only ({args.optimizer} has "
                             "no momentum setting); leave it out or use --optimizer sgd")  # fmt: skip


def _naming_the_file(exc, file: str):
    """``exc`` with ``FILE: `` in front when its message does not start with a path (a flag, a freeze plan)."""
    from inspector.core.errors import InspectorError

    head = exc.message.split(": ", 1)[0]
    if not head.startswith("-") and (os.sep in head or os.path.exists(head)):
        return exc
    return InspectorError(f"{file}: {exc.message}")


def run(args) -> int:
    from inspector.core.errors import InspectorError

    try:
        return _run(args)
    except InspectorError as exc:
        raise _naming_the_file(exc, args.file) from None


def _run(args) -> int:
    from inspector.core.jobs import run_job
    from inspector.core.training import distributed
    from inspector.core.training.prepare import checkpoint_dict, iter_guarded, prepare_run
    from inspector.core.training.saving import atomic_torch_save, check_target, sha256_of
    from inspector.core.training.tensorboard import iter_logged_finetune

    settings = settings_from_args(args)
    world = distributed.world_from_env()
    out = check_target(args.out, args.file, overwrite=args.force)
    base_sha = sha256_of(args.file)
    ckpt = load_or_fail(args.file, trust=args.trust)
    train = prepare_run(ckpt, settings, args.model_class, trust_class=args.trust, world=world)
    try:
        show = None if args.json or not world.is_main else _printer()
        result = run_job(iter_guarded(iter_logged_finetune(train), train.device, settings.batch_size), show)
        if world.is_main:
            saved = checkpoint_dict(result, train, os.path.abspath(args.file), base_sha)
            atomic_torch_save(saved, out, base=args.file, overwrite=args.force)  # never the input
        distributed.barrier(world)
    finally:
        distributed.finish(world)
    if sha256_of(args.file) != base_sha:  # the base file is only ever read; say so if something else wrote it
        print(f"warning: {args.file} changed on disk during the run", file=sys.stderr)
    if not world.is_main:
        return 0
    report = _report(result, train, out, settings)
    report["notes"] = _notes(args, settings, result)
    if args.json:
        json.dump(report, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        _print_text(report)
    return 0 if result.frozen_unchanged else 1


def _printer(every_s: float = 5.0):
    """Epoch lines, and a progress line at most every ``every_s`` seconds (a long validation pass or epoch)."""
    import time

    last = [time.monotonic()]

    def show(progress):
        record = progress.payload
        now = time.monotonic()
        if hasattr(record, "val_accuracy"):
            print(f"epoch {record.epoch}: train loss {record.train_loss:.4f}, validation accuracy "
                  f"{record.val_accuracy:.2%}, {record.seconds:.1f} s", file=sys.stderr)  # fmt: skip
            last[0] = now
        elif now - last[0] >= every_s:
            share = f" ({progress.done}/{progress.total} steps)" if progress.total else ""
            print(f"{progress.message}{share}", file=sys.stderr)
            last[0] = now

    return show


def _notes(args, settings, result) -> list[str]:
    """What the user may not expect: nothing frozen at all (the bitwise check then proves nothing)."""
    if result.plan.frozen or result.checked:
        return []
    if settings.all_but_last is not None:
        why = f"--freeze-all-but-last {settings.all_but_last} keeps every module with parameters training"
    elif args.freeze:
        why = f"--freeze {' --freeze '.join(repr(f) for f in args.freeze)} names no pattern"
    else:
        why = "no --freeze or --freeze-all-but-last was given"
    return [f"nothing frozen: {why}; every parameter trained"]


def _report(result, train, out: str, settings) -> dict:
    from inspector.core.training.tensorboard import open_command

    return {
        "frozen": list(result.checked),
        "updated_buffers": result.updated_buffers,
        "trainable": list(result.plan.trainable),
        "frozen_parameters": list(result.plan.frozen),
        "epochs": [e.to_json() for e in result.epochs],
        "val_accuracy_before": result.val_accuracy_before,
        "val_accuracy_after": result.val_accuracy_after,
        "frozen_unchanged": result.frozen_unchanged,
        "frozen_changed": result.frozen_changed,
        "out": out,
        "device": result.device,
        "world_size": train.world.size,
        "samples_per_second": round(result.samples_per_second, 1),
        "data": {"spec": train.data.spec, "classes": len(train.data.classes), "note": train.data.note},
        "model": train.architecture,
        "tensorboard": settings.tensorboard,
        "tensorboard_command": open_command(settings.tensorboard) if settings.tensorboard else None,
    }


def _print_text(report: dict) -> None:
    print(f"data: {report['data']['spec']} ({report['data']['note']})")
    frozen_params = len(report["frozen_parameters"])
    frozen_buffers = len(report["frozen"]) - frozen_params
    print(f"frozen: {plural(frozen_params, 'parameter')} and {plural(frozen_buffers, 'buffer')}; "
          f"trainable: {plural(len(report['trainable']), 'parameter')}")  # fmt: skip
    if report["updated_buffers"]:
        print(f"updated as allowed (--update-frozen-bn): {', '.join(report['updated_buffers'])}")
    print(
        f"validation accuracy: {report['val_accuracy_before']:.2%} before, {report['val_accuracy_after']:.2%} after"
    )
    for note in report["notes"]:
        print(f"note: {note}")
    if not report["frozen"]:
        state = "nothing frozen"
    elif report["frozen_unchanged"]:
        state = "bitwise unchanged"
    else:
        state = f"CHANGED: {', '.join(report['frozen_changed'])}"
    print(f"frozen tensors: {state}")
    print(f"device: {report['device']}, {report['samples_per_second']:.0f} samples/s")
    if report["tensorboard"]:
        print(f"TensorBoard log: {report['tensorboard']} (open with: {report['tensorboard_command']})")
    print(f"saved {report['out']}")
