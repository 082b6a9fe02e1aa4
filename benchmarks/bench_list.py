"""Listing a big checkpoint vs. a bare ``torch.load`` of it: wall time and memory, each in a fresh process.

    python benchmarks/bench_list.py [--repeats 5] [--size-gb 1.4] [--cold] [--no-cli] [--json OUT]

The targets (issue: "listing a 1.4 GB state_dict takes well under half the time of a bare torch.load of it and
adds under 150 MB of memory over import torch"):

* time: median of inspector's ``load_checkpoint(path)`` + reading ``.entries`` < 0.5 x median ``torch.load(path)``;
* memory: peak RSS of the listing process minus its RSS right after ``import torch`` < 150 MB.

A GPT-2-medium-shaped fp32 state dict of random numbers (~355M parameters, ~1.42 GB) is written once to a cache
folder outside the repo and reused. Every measurement runs in a new interpreter that imports torch, records its
RSS, resets the peak (``/proc/self/clear_refs``), times the operation alone and reads ``VmHWM``. The modes of one
round run in a rotated order, so every mode sees the same page-cache state. Page cache cannot be dropped without
privileges: runs are warm-cache (the file is read once before the first round) unless ``--cold``, which evicts
the file's pages with ``posix_fadvise(DONTNEED)`` before each run. ``fincore`` (util-linux) reports residency.

The end-to-end rows (``python -m inspector list PATH --json > /dev/null`` against ``python -c "import torch;
torch.load(PATH)"``) time whole processes, start-up included, and take peak RSS from ``wait4``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import MB, REPO, child_env, run_json_child, torch_version, warm

TIME_RATIO_TARGET = 0.5
MEMORY_TARGET_MB = 150.0

# mode -> the statement timed inside a fresh interpreter (after ``import torch``)
IN_PROCESS = {
    "torch.load(path)": "obj = torch.load(path)",
    "torch.load(path, weights_only=True)": "obj = torch.load(path, weights_only=True)",
    "torch.load(path, weights_only=False)": "obj = torch.load(path, weights_only=False)",
    "inspector load_checkpoint + entries": (
        "from inspector.core.checkpoint.loader import load_checkpoint\n"
        "ckpt = load_checkpoint(path)\n"
        "rows = [(e.key, e.shape, e.dtype, e.numel, e.kind) for e in ckpt.entries]\n"
        "totals = ckpt.totals"
    ),
}
BARE = "torch.load(path)"
INSPECTOR = "inspector load_checkpoint + entries"

CHILD = r"""
import json, sys, time
from benchmarks._common import proc_status as status, reset_peak

path, statement = sys.argv[1], sys.argv[2]
import torch
rss_after_import = status("VmRSS")
peak_reset = reset_peak()  # VmHWM back to the current RSS: the peak is the operation's alone
scope = {"torch": torch, "path": path}
start = time.perf_counter()
exec(statement, scope)
seconds = time.perf_counter() - start
print(json.dumps({
    "seconds": seconds, "added_bytes": status("VmHWM") - rss_after_import, "peak_reset": peak_reset,
    "rss_after_import": rss_after_import,
    "rss_anon_end": status("RssAnon"), "rss_file_end": status("RssFile"),
}))
"""

END_TO_END = {
    "e2e: python -c 'import torch'": ["-c", "import torch"],
    "e2e: python -c 'torch.load(path)'": ["-c", "import sys, torch; torch.load(sys.argv[1])", "{path}"],
    "e2e: python -m inspector list --json": ["-m", "inspector", "list", "{path}", "--json"],
}
E2E_IMPORT, E2E_BARE, E2E_CLI = END_TO_END


# -- the checkpoint ------------------------------------------------------------------------------------------
def gpt2_shapes(layers: int = 24, width: int = 1024, vocab: int = 50257, context: int = 1024):
    """Names and shapes of a GPT-2 state dict (HF ``transformer.*`` naming, Conv1D weights as [in, out])."""
    shapes = {"wte.weight": (vocab, width), "wpe.weight": (context, width)}
    for i in range(layers):
        h = f"h.{i}."
        shapes |= {
            h + "ln_1.weight": (width,), h + "ln_1.bias": (width,),
            h + "attn.c_attn.weight": (width, 3 * width), h + "attn.c_attn.bias": (3 * width,),
            h + "attn.c_proj.weight": (width, width), h + "attn.c_proj.bias": (width,),
            h + "ln_2.weight": (width,), h + "ln_2.bias": (width,),
            h + "mlp.c_fc.weight": (width, 4 * width), h + "mlp.c_fc.bias": (4 * width,),
            h + "mlp.c_proj.weight": (4 * width, width), h + "mlp.c_proj.bias": (width,),
        }  # fmt: skip
    shapes |= {"ln_f.weight": (width,), "ln_f.bias": (width,)}
    return shapes


def layers_for(size_gb: float) -> int:
    """GPT-2-medium has 24 blocks (~1.42 GB); other sizes scale the block count (at least 1)."""
    per_block = 12 * 1024 * 1024 * 4 + 13 * 1024 * 4
    embeddings = (50257 + 1024) * 1024 * 4
    return max(1, round((size_gb * 1e9 - embeddings) / per_block))


def ensure_checkpoint(cache: Path, layers: int) -> Path:
    """The cached state dict for ``layers`` blocks, written (seeded random fp32) when absent.

    It is written by a child process: this one must stay small, since a child inherits its parent's peak RSS
    (``ru_maxrss`` survives fork and exec) and the end-to-end rows read that peak.
    """
    path = cache / f"gpt2_like_{layers}blocks_fp32.pth"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    print(f"writing {path} ...", flush=True)
    partial = path.with_suffix(".partial")
    subprocess.run([sys.executable, __file__, "--write-checkpoint", str(partial), str(layers)], check=True)
    partial.rename(path)
    return path


def write_checkpoint(path: str, layers: int) -> None:
    import torch

    generator = torch.Generator().manual_seed(0)
    state = {
        name: torch.randn(shape, generator=generator) * 0.02 for name, shape in gpt2_shapes(layers).items()
    }
    torch.save(state, path)


# -- running -------------------------------------------------------------------------------------------------
def evict(path: Path) -> None:
    """Drop the file's clean pages from the page cache (no privileges needed, unlike drop_caches)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def run_in_process(path: Path, statement: str) -> dict:
    return run_json_child(["-c", CHILD, str(path), statement], repr(statement))


def run_end_to_end(path: Path, args: list[str]) -> dict:
    """Whole-process wall time and peak RSS (``wait4``'s ``ru_maxrss``) of ``python ARGS``, stdout discarded."""
    argv = [sys.executable, *(a.format(path=path) for a in args)]
    start = time.perf_counter()
    with open(os.devnull, "wb") as devnull:
        process = subprocess.Popen(argv, stdout=devnull, stderr=subprocess.PIPE, env=child_env(), cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
    if process.returncode != 0:
        raise SystemExit(f"error: {' '.join(argv)} exited {process.returncode}:\n{stderr[-2000:]}")
    return {"seconds": seconds, "peak_bytes": usage.ru_maxrss * 1024}


def residency(path: Path) -> str:
    if not shutil.which("fincore"):
        return "unknown (no fincore)"
    out = subprocess.run(["fincore", "-nb", "-o", "RES,SIZE", str(path)], capture_output=True, text=True)
    try:
        resident, size = map(int, out.stdout.split())
    except ValueError:
        return "unknown"
    return f"{100 * resident / size:.0f}% of the file in page cache"


def rounds(path: Path, repeats: int, warmup: int, cold: bool, end_to_end: bool):
    """Run every mode ``warmup + repeats`` times, rotating the order each round; yields (mode, record) of the
    counted rounds. The first process to fill 1.4 GB of fresh memory is slow whatever it runs: warm-up rounds
    keep that out of the medians."""
    modes = [(name, "in") for name in IN_PROCESS] + (
        [(name, "e2e") for name in END_TO_END] if end_to_end else []
    )
    for r in range(-warmup, repeats):
        shift = r % len(modes)
        label = f"warm-up {r + warmup + 1}/{warmup}" if r < 0 else f"round {r + 1}/{repeats}"
        for name, kind in modes[shift:] + modes[:shift]:
            if cold:
                evict(path)
            record = (
                run_in_process(path, IN_PROCESS[name])
                if kind == "in"
                else run_end_to_end(path, END_TO_END[name])
            )
            print(f"  {label:<12} {name:<40} {record['seconds']:7.3f} s", flush=True)
            if r >= 0:
                yield name, record


# -- report --------------------------------------------------------------------------------------------------
def summarize(results: dict[str, list[dict]]) -> dict[str, dict]:
    summary = {}
    for name, records in results.items():
        row = {"seconds": statistics.median(r["seconds"] for r in records), "runs": len(records)}
        if "added_bytes" in records[0]:
            row["added_mb"] = statistics.median(r["added_bytes"] for r in records) / MB
            row["rss_file_mb"] = statistics.median(r["rss_file_end"] for r in records) / MB
            row["rss_after_import_mb"] = statistics.median(r["rss_after_import"] for r in records) / MB
        else:
            row["peak_mb"] = statistics.median(r["peak_bytes"] for r in records) / MB
        summary[name] = row
    if E2E_IMPORT in summary:
        base = summary[E2E_IMPORT]["peak_mb"]
        for name in (E2E_BARE, E2E_CLI):
            summary[name]["added_mb"] = summary[name]["peak_mb"] - base
    return summary


def report(summary: dict[str, dict], path: Path, cache_state: str) -> bool:
    size_gb = path.stat().st_size / 1e9
    import_mb = summary[BARE]["rss_after_import_mb"]
    print(f"\n{path} ({size_gb:.2f} GB), {cache_state}; medians of {summary[BARE]['runs']} runs")
    print(
        f"python {sys.version.split()[0]}, {torch_version()}, RSS after import torch {import_mb:.0f} MB, {os.cpu_count()} CPUs"
    )
    print(f"{'mode':<42} {'time':>9} {'vs bare':>8} {'mem added':>10}")
    bare = summary[BARE]["seconds"]
    e2e_bare = summary.get(E2E_BARE, {}).get("seconds")
    for name, row in summary.items():
        ref = e2e_bare if name.startswith("e2e") else bare
        ratio = f"{row['seconds'] / ref:7.2f}x" if ref and name not in (E2E_IMPORT,) else ""
        added = f"{row['added_mb']:7.0f} MB" if "added_mb" in row else f"{row['peak_mb']:5.0f} MB pk"
        print(f"{name:<42} {row['seconds']:7.3f} s {ratio:>8} {added:>10}")
    # judged against the fastest torch.load variant, so that noise in the bare runs cannot flatter the ratio
    fastest = min(row["seconds"] for name, row in summary.items() if name.startswith("torch.load"))
    ratio = summary[INSPECTOR]["seconds"] / fastest
    added = summary[INSPECTOR]["added_mb"]
    time_ok, memory_ok = ratio < TIME_RATIO_TARGET, added < MEMORY_TARGET_MB
    verdict = {True: "PASS", False: "FAIL"}
    print(
        f"\n{verdict[time_ok]} time: listing takes {summary[INSPECTOR]['seconds'] / bare:.3f}x a bare "
        f"torch.load(path), {ratio:.3f}x the fastest torch.load (target < {TIME_RATIO_TARGET})"
    )
    print(
        f"{verdict[memory_ok]} memory: listing adds {added:.0f} MB of peak RSS over import torch "
        f"(target < {MEMORY_TARGET_MB:.0f} MB)"
    )
    if E2E_CLI in summary:
        cli = summary[E2E_CLI]
        print(f"note: end to end, 'inspector list --json' takes {cli['seconds'] / e2e_bare:.2f}x "
              f"'python -c torch.load' and peaks {cli['added_mb']:.0f} MB above 'python -c import torch'")  # fmt: skip
    return time_ok and memory_ok


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each mode (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted rounds first (default 1)")
    parser.add_argument(
        "--size-gb", type=float, default=1.4, help="checkpoint size; GPT-2-medium is ~1.42 GB"
    )
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "inspector-bench",
                        help="folder for the generated checkpoint (outside the repo)")  # fmt: skip
    parser.add_argument("--cold", action="store_true", help="evict the file from page cache before every run")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end process rows")
    parser.add_argument("--json", type=Path, help="also write the raw runs and medians here")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--write-checkpoint"]:
        write_checkpoint(argv[1], int(argv[2]))
        return 0
    args = parse_args(argv)
    path = ensure_checkpoint(args.cache, layers_for(args.size_gb))
    if not args.cold:
        warm(path)
    cache_state = (
        "cold cache (fadvise DONTNEED before each run)" if args.cold else f"warm cache ({residency(path)})"
    )
    print(f"{path}: {cache_state}; {args.repeats} rounds, modes interleaved", flush=True)
    results: dict[str, list[dict]] = {}
    for name, record in rounds(path, args.repeats, args.warmup, args.cold, not args.no_cli):
        results.setdefault(name, []).append(record)
    summary = summarize(results)
    passed = report(summary, path, cache_state)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"file": str(path), "cache": cache_state, "summary": summary, "runs": results}, indent=1
            )
        )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
