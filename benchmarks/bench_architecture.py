"""Recognising a torchvision architecture: ``inspector list`` of a resnet18 state dict vs a bare ``import torch``,
and the first open of such a file in a running app.

    python benchmarks/bench_architecture.py [--repeats 5] [--no-gui] [--json OUT]

Targets (issue 10): ``list`` of a resnet18 state dict within 0.3 s of ``python -c "import torch"`` end to end;
the first open of it in a running app under 0.3 s. Before the signature table the matcher imported
``torchvision.models`` (~2 s): the row ``import torch, torchvision.models`` shows what that cost on this machine,
side by side in the same run.

End-to-end rows time whole processes (interpreter start included), in a rotated order per round. The app rows run
one offscreen ``MainWindow`` per round in a fresh process: it first opens a small state dict that matches no
architecture (so torch and the loader are imported, as in an app that has been used), then times
``open_file`` -> ``checkpoint_loaded`` for resnet18 (the first torchvision-architecture file) and for a second
resnet18 file. A seeded resnet18 state dict (45 MB) is written once to ``$TMPDIR/inspector-bench/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, child_env, run_json_child, torch_version

LIST_GAP_TARGET = 0.3  # s over a bare import torch
FIRST_OPEN_TARGET = 0.3  # s in a running app

IMPORT_TORCH = "python -c 'import torch'"
IMPORT_TORCHVISION = "python -c 'import torch, torchvision.models' (the old matcher's import)"
LIST_TEXT = "python -m inspector list PATH"
LIST_JSON = "python -m inspector list PATH --json"
END_TO_END = {
    IMPORT_TORCH: ["-c", "import torch"],
    IMPORT_TORCHVISION: ["-c", "import torch, torchvision.models"],
    LIST_TEXT: ["-m", "inspector", "list", "{path}"],
    LIST_JSON: ["-m", "inspector", "list", "{path}", "--json"],
}

APP_CHILD = r"""
import json, os, sys, time
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication
from inspector.ui.main_window import MainWindow

app = QApplication([])
window = MainWindow()
window.show()
app.processEvents()

def timed_open(path):
    loop = QEventLoop()
    got = {}
    def done(ckpt):
        got["arch"] = ckpt.architecture
        loop.quit()
    window.checkpoint_loaded.connect(done)
    QTimer.singleShot(60_000, loop.quit)
    start = time.perf_counter()
    window.open_file(path)
    loop.exec()
    seconds = time.perf_counter() - start
    window.checkpoint_loaded.disconnect(done)
    assert "arch" in got, f"no checkpoint_loaded for {path}"
    return seconds, got["arch"]

plain, first, second = sys.argv[1:4]
warm_seconds, _ = timed_open(plain)
first_seconds, arch = timed_open(first)
second_seconds, _ = timed_open(second)
print(json.dumps({"plain": warm_seconds, "first": first_seconds, "second": second_seconds, "arch": arch,
                  "torchvision_imported": "torchvision" in sys.modules}))
window.close()
"""


def ensure_files(cache: Path) -> tuple[Path, Path, Path]:
    """A seeded resnet18 state dict, a second copy (another file to open) and a small unknown state dict."""
    first, second, plain = (
        cache / "resnet18_seed0.pth",
        cache / "resnet18_seed0_copy.pth",
        cache / "plain_sd.pth",
    )
    if not (first.exists() and second.exists() and plain.exists()):
        cache.mkdir(parents=True, exist_ok=True)
        code = (
            "import sys, shutil, torch, torchvision; torch.manual_seed(0); "
            "torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1]); shutil.copy(sys.argv[1], sys.argv[2]); "
            "torch.save({'w': torch.randn(8, 4), 'b': torch.zeros(8)}, sys.argv[3])"
        )
        subprocess.run([sys.executable, "-c", code, str(first), str(second), str(plain)], check=True)
    return first, second, plain


def run_end_to_end(args: list[str], path: Path) -> float:
    argv = [sys.executable, *(a.format(path=path) for a in args)]
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, env=child_env(), cwd=REPO, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--no-gui", action="store_true", help="skip the running-app rows")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "inspector-bench")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    first, second, plain = ensure_files(args.cache)
    times: dict[str, list[float]] = {name: [] for name in END_TO_END}
    app: list[dict] = []
    modes = list(END_TO_END)
    for r in range(-args.warmup, args.repeats):
        shift = r % len(modes)
        for name in modes[shift:] + modes[:shift]:
            seconds = run_end_to_end(END_TO_END[name], first)
            print(f"  round {r + 1:>2} {name:<72} {seconds:6.3f} s", flush=True)
            if r >= 0:
                times[name].append(seconds)
        if not args.no_gui:
            record = run_json_child(["-c", APP_CHILD, str(plain), str(first), str(second)], "app")
            print(
                f"  round {r + 1:>2} app: first {record['first']:.3f} s, second {record['second']:.3f} s",
                flush=True,
            )
            if r >= 0:
                app.append(record)
    return report(times, app, first, args.json)


def report(times: dict[str, list[float]], app: list[dict], path: Path, out: Path | None) -> int:
    median = {name: statistics.median(values) for name, values in times.items()}
    base = median[IMPORT_TORCH]
    print(f"\n{path} ({path.stat().st_size / 1e6:.0f} MB); medians of {len(times[IMPORT_TORCH])} runs")
    print(f"python {sys.version.split()[0]}, {torch_version()}, {os.cpu_count()} CPUs")
    print(f"{'end to end':<74} {'time':>8} {'- import torch':>15}")
    for name, seconds in median.items():
        print(f"{name:<74} {seconds:6.3f} s {seconds - base:+13.3f} s")
    gap = median[LIST_TEXT] - base
    ok = gap <= LIST_GAP_TARGET
    print(
        f"\n{'PASS' if ok else 'FAIL'} list: {gap:+.3f} s over import torch (target <= {LIST_GAP_TARGET} s)"
    )
    summary = {"end_to_end": median, "list_gap": gap}
    if app:
        first_open = statistics.median(r["first"] for r in app)
        second_open = statistics.median(r["second"] for r in app)
        tv = any(r["torchvision_imported"] for r in app)
        app_ok = first_open < FIRST_OPEN_TARGET and not tv
        print(f"{'PASS' if app_ok else 'FAIL'} app: first open {first_open:.3f} s, second {second_open:.3f} s "
              f"(target < {FIRST_OPEN_TARGET} s; architecture {app[0]['arch']}; torchvision imported: {tv})")  # fmt: skip
        summary |= {"app_first_open": first_open, "app_second_open": second_open, "app_torchvision": tv}
        ok = ok and app_ok
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
