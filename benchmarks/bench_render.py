"""Weight views and the diff (issue 3) vs. the plain-PyTorch way of computing the same thing: time and memory.

    python benchmarks/bench_render.py [--quick] [--repeats 5] [--warmup 1] [--only CASE ...] [--json OUT]

Each case times an inspector core function against the few lines of plain torch/torchvision that a person would
write for the same picture or numbers:

* stats: ``tensor_stats(t)`` vs ``t.min(), t.max(), t.mean(), t.std(), (t == 0).sum(), t.isnan().sum(),
  t.isinf().sum()``;
* histogram: ``render.histogram(t, 128)`` vs ``torch.aminmax(t)`` then ``torch.histc(t.float(), 128, lo, hi)``;
* heatmap: ``render.heatmap_array(m, 1024)`` (signed value of largest magnitude per block) vs
  ``adaptive_max_pool2d(m.abs(), 1024, return_indices=True)`` and picking the signed values at those indices;
* filters: ``render.filter_grid(w)`` vs ``torchvision.utils.make_grid`` of the same filters, each divided by
  its max |w| (the normalisation inspector uses), laid out the same way;
* diff: ``diff_checkpoints(a, b)`` vs ``torch.load`` of both (``weights_only=True``) and, per shared key,
  ``torch.equal``, ``(a - b).abs().max()`` and ``(a - b).norm() / a.norm()``; loading is inside the timed part.

Inputs are seeded random tensors built in the measuring process (not timed); the diff pair (a torchvision
ResNet state dict and a copy with every other floating tensor perturbed) is written once to a cache folder
outside the repository and read once so that every run finds it in the page cache. Every (case, side) runs in a
fresh interpreter that imports torch, builds its input, then does ``--warmup`` uncounted runs and ``--repeats``
counted ones; before each it resets its peak RSS (``/proc/self/clear_refs``), and *mem* is ``VmHWM`` after the
run minus RSS before it (temporaries and result included; file pages mapped by ``mmap`` count too). The table
gives medians and the ratio inspector / torch (below 1: inspector is faster).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from _common import MB, proc_status, reset_peak, run_json_child, torch_version, warm

BINS = 128
HEATMAP_SIDE = 1024
SIDES = ("inspector", "torch")


@dataclass(frozen=True)
class Case:
    """One row of the table: ``op`` names the pair of functions, ``shape`` the input (an architecture name for
    the diff); ``quick`` cases also run with ``--quick``."""

    name: str
    op: str
    shape: tuple[int, ...] | str
    quick: bool = False


FULL = [
    Case("stats", "stats", (10_000, 10_000)),
    Case("histogram", "histogram", (10_000, 10_000)),
    Case("heatmap-8192", "heatmap", (8192, 8192)),
    Case("heatmap-4096", "heatmap", (4096, 4096), quick=True),
    Case("filters-64x3x7x7", "filters", (64, 3, 7, 7), quick=True),
    Case("filters-512x512x3x3", "filters", (512, 512, 3, 3), quick=True),
    Case("filters-1024x1024x3x3", "filters", (1024, 1024, 3, 3)),
    Case("diff-resnet50", "diff", "resnet50"),
]
QUICK = [
    Case("stats", "stats", (4000, 4000), quick=True),
    Case("histogram", "histogram", (4000, 4000), quick=True),
    *(case for case in FULL if case.quick),
    Case("diff-resnet18", "diff", "resnet18", quick=True),
]


# -- the two sides of each case (run in the measuring child, torch already imported) ------------------------
def inspector_stats(t):
    from inspector.core.analysis.stats import tensor_stats

    return tensor_stats(t)


def torch_stats(t):
    return t.min(), t.max(), t.mean(), t.std(), (t == 0).sum(), t.isnan().sum(), t.isinf().sum()


def inspector_histogram(t):
    from inspector.core import render

    return render.histogram(t, BINS)


def torch_histogram(t):
    import torch

    lo, hi = torch.aminmax(t)
    return torch.histc(t.float(), BINS, float(lo), float(hi))


def inspector_heatmap(m):
    from inspector.core import render

    return render.heatmap_array(m, HEATMAP_SIDE)


def torch_heatmap(m):
    """Per block, the signed value of largest magnitude (what inspector's ``absmax`` reduction draws)."""
    import torch.nn.functional as F

    _, index = F.adaptive_max_pool2d(m.abs()[None, None], HEATMAP_SIDE, return_indices=True)
    return m.reshape(-1)[index.reshape(-1)].reshape(index.shape[-2:]).numpy()


def inspector_filters(w, plan):
    from inspector.core import render

    return render.filter_grid(w)


def torch_filters(w, plan):
    """make_grid of the filters inspector shows, each divided by its max |w|, in inspector's layout: one RGB
    tile per filter for 3 input channels, else one row per filter and one 1-channel tile per input channel."""
    from torchvision.utils import make_grid

    shown = w[: plan["shown"]]
    normalised = shown / shown.abs().amax(dim=(1, 2, 3), keepdim=True)
    if plan["layout"] == "filters":
        return make_grid(normalised, nrow=plan["cols"], padding=plan["padding"])
    tiles = normalised.reshape(-1, 1, *normalised.shape[2:])
    return make_grid(tiles, nrow=normalised.shape[1], padding=plan["padding"])


def inspector_diff(path_a, path_b):
    from inspector.core.analysis.diff import diff_checkpoints

    return diff_checkpoints(path_a, path_b)


def torch_diff(path_a, path_b):
    import torch

    a, b = torch.load(path_a, weights_only=True), torch.load(path_b, weights_only=True)
    rows = {}
    for key in a.keys() & b.keys():
        x, y = a[key], b[key]
        if not x.is_floating_point():  # num_batches_tracked: norm() wants floats
            x, y = x.double(), y.double()
        d = x - y
        rows[key] = (torch.equal(a[key], b[key]), float(d.abs().max()), float(d.norm() / x.norm()))
    return rows


SIDE_FUNCTIONS = {
    "stats": (inspector_stats, torch_stats),
    "histogram": (inspector_histogram, torch_histogram),
    "heatmap": (inspector_heatmap, torch_heatmap),
    "filters": (inspector_filters, torch_filters),
    "diff": (inspector_diff, torch_diff),
}


def digest(result) -> str:
    """A few words on a result, so the log shows that both sides computed the same thing."""
    kind = type(result).__name__
    if kind == "TensorStats":
        return f"std {result.std:.6f}, {result.zeros} zeros"
    if kind == "tuple":  # the torch stats
        return f"std {float(result[3]):.6f}, {int(result[4])} zeros"
    if kind == "Histogram":
        return f"{result.total} counted"
    if kind == "DiffResult":
        return f"{len(result.changed)} of {len(result.tensors)} changed"
    if kind == "dict":  # the torch diff
        return f"{sum(not row[0] for row in result.values())} of {len(result)} changed"
    if kind == "Tensor" and result.ndim == 1:  # torch.histc: float32 counts, summed exactly in float64
        return f"{int(result.double().sum())} counted"
    image = {"Heatmap": "values", "FilterGrid": "image"}.get(kind)
    return f"{tuple((getattr(result, image) if image else result).shape)} image"


# -- the measuring child -------------------------------------------------------------------------------------
def build_inputs(case: Case, cache: Path) -> tuple:
    """The arguments of the case's functions (not timed): seeded random tensors, or the diff file pair."""
    import torch

    if case.op == "diff":
        return tuple(str(p) for p in diff_pair_paths(cache, case.shape))
    values = torch.randn(case.shape, generator=torch.Generator().manual_seed(0)) * 0.02
    if case.op != "filters":
        return (values,)
    from inspector.core import render

    grid = render.filter_grid(values)  # the layout make_grid must reproduce
    plan = {"shown": grid.filters_shown, "layout": grid.layout, "cols": grid.cols, "padding": grid.padding}
    return values, plan


def measure(case: Case, side: str, repeats: int, warmup: int, cache: Path) -> dict:
    import torch  # noqa: F401  (imported before anything is measured, like every side's own imports)
    import torchvision.utils  # noqa: F401

    import inspector.core.analysis.diff  # noqa: F401
    import inspector.core.checkpoint.loader  # noqa: F401
    import inspector.core.render  # noqa: F401

    inputs = build_inputs(case, cache)
    function = SIDE_FUNCTIONS[case.op][SIDES.index(side)]
    runs, peak_reset = [], True
    for i in range(warmup + repeats):
        record, result = one_run(function, inputs)
        peak_reset &= record.pop("peak_reset")
        runs.append(record | {"counted": i >= warmup})
        summary, result = digest(result), None
    return {"runs": runs, "peak_reset": peak_reset, "digest": summary}


def one_run(function, inputs: tuple) -> tuple[dict, object]:
    """Time one call; its peak RSS over the RSS before it, and the minor page faults it took.

    Freed heap is handed back to the kernel first (``malloc_trim``): otherwise a run reuses what the one
    before freed, ``VmHWM`` never sees it, and the figures depend on the order of the runs.
    """
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before, faults = proc_status("VmRSS"), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    peak_reset = reset_peak()
    start = time.perf_counter()
    result = function(*inputs)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds, "added_bytes": proc_status("VmHWM") - before, "peak_reset": peak_reset,
        "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults,
    }, result  # fmt: skip


# -- the diff files ------------------------------------------------------------------------------------------
def diff_pair_paths(cache: Path, arch: str) -> tuple[Path, Path]:
    return cache / f"{arch}_a.pth", cache / f"{arch}_b.pth"


def ensure_diff_pair(cache: Path, arch: str) -> tuple[Path, Path]:
    """The cached pair for ``arch``, written by a child (this process never imports torch) when absent."""
    paths = diff_pair_paths(cache, arch)
    if not all(p.exists() for p in paths):
        cache.mkdir(parents=True, exist_ok=True)
        print(f"writing {paths[0]} and {paths[1].name} ...", flush=True)
        run_json_child([__file__, "--write-diff-pair", str(cache), arch], f"writing the {arch} pair")
    return paths


def write_diff_pair(cache: Path, arch: str) -> None:
    """A seeded torchvision ``arch`` state dict, and a copy with every other floating tensor nudged."""
    import torch
    import torchvision

    torch.manual_seed(0)
    state = getattr(torchvision.models, arch)(weights=None).state_dict()
    generator = torch.Generator().manual_seed(1)
    nudged = dict(state)
    for key in list(state)[::2]:
        if state[key].is_floating_point():
            nudged[key] = state[key] + 1e-3 * torch.randn(state[key].shape, generator=generator)
    for tensors, path in zip((state, nudged), diff_pair_paths(cache, arch), strict=True):
        partial = path.with_suffix(".partial")
        torch.save(tensors, partial)
        partial.rename(path)
    print(json.dumps({"tensors": len(state), "nudged": sum(nudged[k] is not state[k] for k in state)}))


# -- running and reporting -----------------------------------------------------------------------------------
def run_side(case: Case, side: str, args: argparse.Namespace) -> dict:
    argv = [__file__, "--child", case.name, side, "--repeats", str(args.repeats), "--warmup", str(args.warmup),
            "--cache", str(args.cache), *(["--quick"] if args.quick else [])]  # fmt: skip
    return run_json_child(argv, f"{case.name} {side}")


def summarize(record: dict) -> dict:
    counted = [r for r in record["runs"] if r["counted"]]
    mem = statistics.median(r["added_bytes"] for r in counted) / MB if record["peak_reset"] else math.nan
    return {
        "seconds": statistics.median(r["seconds"] for r in counted), "mem_mb": mem, "runs": len(counted),
        "minor_faults": statistics.median(r["minor_faults"] for r in counted),
    }  # fmt: skip


def duration(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.2f} ms"


def megabytes(mb: float) -> str:
    return "?" if math.isnan(mb) else f"{mb:.0f} MB" if abs(mb) >= 10 else f"{mb:.1f} MB"


def size_label(case: Case) -> str:
    if isinstance(case.shape, str):
        return f"{case.shape} pair"
    numel = math.prod(case.shape)
    scale = f", {numel / 1e6:.0f}M" if numel >= 1e6 else ""
    return "x".join(map(str, case.shape)) + scale


def machine_line() -> str:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return f"python {sys.version.split()[0]}, {torch_version()}, {os.cpu_count()} CPUs, {mem_gb:.0f} GB"


def run_all(cases: list[Case], args: argparse.Namespace) -> tuple[dict, dict]:
    """Every side of every case in its own child; the raw records and their medians, by case and side."""
    results: dict[str, dict] = {}
    rows: dict[str, dict] = {}
    for i, case in enumerate(cases):
        for side in SIDES[:: 1 if i % 2 == 0 else -1]:  # alternate which side runs first
            record = results.setdefault(case.name, {})[side] = run_side(case, side, args)
            row = rows.setdefault(case.name, {})[side] = summarize(record)
            print(f"  {case.name:<22} {side:<9} {duration(row['seconds']):>10} {megabytes(row['mem_mb']):>9} {row['minor_faults'] / 1000:6.1f}k faults  ({record['digest']})", flush=True)  # fmt: skip
    return results, rows


def report(cases: list[Case], rows: dict[str, dict], args: argparse.Namespace) -> None:
    print(f"\n{machine_line()}; medians of {args.repeats} runs after {args.warmup} warm-up, fp32 inputs")
    print(f"{'operation':<10} {'size':<22} {'inspector':>10} {'torch':>10} {'ratio':>7} {'insp mem':>9} {'torch mem':>10}")  # fmt: skip
    for case in cases:
        mine, plain = rows[case.name]["inspector"], rows[case.name]["torch"]
        ratio = mine["seconds"] / plain["seconds"]
        print(
            f"{case.op:<10} {size_label(case):<22} {duration(mine['seconds']):>10} {duration(plain['seconds']):>10} "
            f"{ratio:6.2f}x {megabytes(mine['mem_mb']):>9} {megabytes(plain['mem_mb']):>10}"
        )


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer cases (~1 minute)")
    parser.add_argument("--repeats", type=int, default=5, help="counted runs of each side (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted runs first (default 1)")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="run only these cases (names as printed)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "inspector-bench",
                        help="folder for the generated diff pair (outside the repo)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the raw runs and medians here")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "SIDE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--write-diff-pair"]:
        write_diff_pair(Path(argv[1]), argv[2])
        return 0
    args = parse_args(argv)
    cases = [c for c in (QUICK if args.quick else FULL) if not args.only or c.name in args.only]
    if args.child:
        case = next(c for c in cases if c.name == args.child[0])
        print(json.dumps(measure(case, args.child[1], args.repeats, args.warmup, args.cache)))
        return 0
    if not cases:
        raise SystemExit(
            f"error: no such case; pick from {', '.join(c.name for c in (QUICK if args.quick else FULL))}"
        )
    for case in cases:
        if case.op == "diff":
            for path in ensure_diff_pair(args.cache, case.shape):
                warm(path)
    results, rows = run_all(cases, args)
    report(cases, rows, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        cases_json = {c.name: asdict(c) for c in cases}
        args.json.write_text(json.dumps({"machine": machine_line(), "cases": cases_json, "summary": rows, "runs": results}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
