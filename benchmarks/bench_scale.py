"""Scale: a 5 GB state dict of 2,000 tensors, listed in process, end to end and in the app, vs ``torch.load``.

    python benchmarks/bench_scale.py [--size-gb 5] [--entries 2000] [--repeats 5] [--no-gui] [--keep] [--json OUT]

Targets (issue 11): listed under 1 s after ``import torch``; the tree smooth; stats in the background with
progress and cancel.

The file is written by ``torch.save`` itself (every record, every CRC-32) into a sparse file
(``benchmarks/sparse_checkpoint.py``: all-zero blocks become holes), so 5 GB takes a few MB of disk and ~10 s;
``zipfile.testzip()`` checks every CRC once (``--no-verify`` skips it). It goes to a temporary folder (``--dir``)
and is removed at the end unless ``--keep``. Rows, each run in a fresh interpreter, rounds in a rotated order
after one uncounted warm-up round, medians:

* **in process, after import torch**: inspector's ``load_checkpoint(path)`` plus every entry's row and the
  totals, against ``torch.load(path, mmap=True, weights_only=True)`` (the plain way that reads no tensor data);
* **end to end**: ``python -m inspector list PATH --json > /dev/null`` against
  ``python -c "import torch; torch.load(PATH, mmap=True, weights_only=True)"`` and a bare ``import torch``;
* **app** (offscreen ``MainWindow``, ``--no-gui`` skips): a small file is opened first (torch and the loader
  imported, as in an app in use), then ``open_file`` -> the tree's first paint; the tree fully expanded
  (4,001 rows) and scrolled page by page to the end, each page a synchronous ``viewport().repaint()`` (frame
  times: median and worst, beside the same frame of a 40-entry file that fills the view as well); selecting the last tensor -> its stats on screen (a background job with progress);
  starting the stats of a tensor and cancelling -> its thread ended.
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
import zipfile
from pathlib import Path

from _common import REPO, child_env, run_json_child, torch_version

LIST_TARGET_S = 1.0

IN_PROCESS = {
    "inspector load_checkpoint + entries": (
        "from inspector.core.checkpoint.loader import load_checkpoint\n"
        "ckpt = load_checkpoint(path)\n"
        "rows = [(e.key, e.shape, e.dtype, e.numel, e.kind) for e in ckpt.entries]\n"
        "totals = ckpt.totals"
    ),
    "torch.load(path, mmap=True, weights_only=True)": "obj = torch.load(path, mmap=True, weights_only=True)",
}
INSPECTOR, TORCH_MMAP = IN_PROCESS

CHILD = r"""
import json, sys, time
path, statement = sys.argv[1], sys.argv[2]
import torch
scope = {"torch": torch, "path": path}
start = time.perf_counter()
exec(statement, scope)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

END_TO_END = {
    "e2e: python -c 'import torch'": ["-c", "import torch"],
    "e2e: python -c 'torch.load(path, mmap=True, weights_only=True)'": [
        "-c", "import sys, torch; torch.load(sys.argv[1], mmap=True, weights_only=True)", "{path}"],
    "e2e: python -m inspector list PATH --json": ["-m", "inspector", "list", "{path}", "--json"],
}  # fmt: skip
E2E_IMPORT, E2E_TORCH, E2E_LIST = END_TO_END

APP_CHILD = r"""
import time
process_began = time.perf_counter()
import json, os, statistics, sys
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QApplication
from inspector.ui.main_window import MainWindow

class WindowPaint(QObject):
    at = None
    def eventFilter(self, obj, event):
        if self.at is None and event.type() == QEvent.Type.Paint:
            self.at = time.perf_counter()
        return False

app = QApplication([])
window = MainWindow()
window_paint = WindowPaint()
window.installEventFilter(window_paint)
window.show()
while window_paint.at is None:
    app.processEvents()
startup = {"window_first_paint": window_paint.at - process_began, "torch_at_first_paint": "torch" in sys.modules}

def wait_for(signal, action, timeout_ms=120_000):
    loop, got = QEventLoop(), []
    def done(*args):
        got.append(args)
        loop.quit()
    signal.connect(done)
    QTimer.singleShot(timeout_ms, loop.quit)
    action()
    if not got:
        loop.exec()
    signal.disconnect(done)
    assert got, f"timed out waiting for {signal}"
    return got[0]

class FirstPaint(QObject):
    def __init__(self):
        super().__init__()
        self.armed, self.at, self.loop = False, None, QEventLoop()
    def eventFilter(self, obj, event):
        if self.armed and self.at is None and event.type() == QEvent.Type.Paint:
            self.at = time.perf_counter()
            QTimer.singleShot(0, self.loop.quit)
        return False

def scroll_frames():
    window.tree.expandAll()
    app.processEvents()
    bar = window.tree.verticalScrollBar()
    frames, value = [], 0
    while True:
        bar.setValue(value)
        began = time.perf_counter()
        window.tree.viewport().repaint()
        frames.append((time.perf_counter() - began) * 1000)
        if value >= bar.maximum() or len(frames) >= 400:
            return frames
        value = min(bar.maximum(), value + bar.pageStep())

small, big = sys.argv[1:3]
wait_for(window.checkpoint_loaded, lambda: window.open_file(small))
small_frames = [scroll_frames()[0] for _ in range(5)]
painter = FirstPaint()
window.tree.viewport().installEventFilter(painter)
start = time.perf_counter()
def armed_after_load(_ckpt):
    painter.armed = True
    window.tree.viewport().update()
window.checkpoint_loaded.connect(armed_after_load)
loaded_at = wait_for(window.checkpoint_loaded, lambda: window.open_file(big)) and time.perf_counter()
if painter.at is None:
    QTimer.singleShot(10_000, painter.loop.quit)
    painter.loop.exec()
first_paint = painter.at - start

frames = scroll_frames()

details = window.details
last = window.checkpoint.entries[-1].key
began = time.perf_counter()
wait_for(details.stats_shown, lambda: window.select_entry(last))
stats_seconds = time.perf_counter() - began

window.select_entry(window.checkpoint.entries[0].key)
worker_slot = details._stats_jobs
began = time.perf_counter()
window.select_entry(window.checkpoint.entries[1].key)
worker = worker_slot.current
cancelled_ms = None
if worker is not None:
    worker_slot.cancel()
    worker.wait(5000)
    cancelled_ms = (time.perf_counter() - began) * 1000
began = time.perf_counter()
window.close()
close_ms = (time.perf_counter() - began) * 1000
print(json.dumps({"open_to_loaded": loaded_at - start, "first_paint": first_paint, "frames_ms": frames,
                  "small_frames_ms": small_frames, **startup, "stats_seconds": stats_seconds, "cancel_ms": cancelled_ms,
                  "close_ms": close_ms}))
"""


def write_file(folder: Path, size_gb: float, entries: int) -> Path:
    sys.path.insert(0, str(REPO))
    from benchmarks.sparse_checkpoint import write_sparse_state_dict

    bytes_each = int(size_gb * 1e9) // entries
    path = folder / f"scale_{entries}x{bytes_each // 1000}KB.pth"
    started = time.perf_counter()
    write_sparse_state_dict(path, entries, bytes_each)
    st = path.stat()
    print(f"wrote {path}: {st.st_size / 1e9:.2f} GB, {st.st_blocks * 512 / 1e6:.1f} MB on disk, "
          f"{entries} tensors of {bytes_each / 1e6:.2f} MB, in {time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip
    return path


def verify(path: Path) -> None:
    started = time.perf_counter()
    with zipfile.ZipFile(path) as archive:
        bad = archive.testzip()
    if bad is not None:
        raise SystemExit(f"error: {path}: record {bad} fails its CRC-32")
    print(f"zipfile.testzip(): every CRC-32 matches ({time.perf_counter() - started:.1f} s)", flush=True)


def run_end_to_end(args: list[str], path: Path) -> float:
    argv = [sys.executable, *(a.format(path=path) for a in args)]
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, env=child_env(), cwd=REPO, check=True)
    return time.perf_counter() - start


def measure(path: Path, small: Path, args) -> tuple[dict[str, list[float]], list[dict]]:
    times: dict[str, list[float]] = {name: [] for name in [*IN_PROCESS, *END_TO_END] if not args.app_only}
    app: list[dict] = []
    modes = list(times)
    for r in range(-1, args.repeats):
        shift = r % max(1, len(modes))
        for name in modes[shift:] + modes[:shift]:
            if name in IN_PROCESS:
                seconds = run_json_child(["-c", CHILD, str(path), IN_PROCESS[name]], name)["seconds"]
            else:
                seconds = run_end_to_end(END_TO_END[name], path)
            print(f"  round {r + 1:>2} {name:<66} {seconds:6.3f} s", flush=True)
            if r >= 0:
                times[name].append(seconds)
        if not args.no_gui:
            record = run_json_child(["-c", APP_CHILD, str(small), str(path)], "app")
            print(f"  round {r + 1:>2} app: first paint {record['first_paint']:.3f} s, worst frame "
                  f"{max(record['frames_ms']):.1f} ms, stats {record['stats_seconds']:.3f} s", flush=True)  # fmt: skip
            if r >= 0:
                app.append(record)
    return times, app


def report(times: dict[str, list[float]], app: list[dict], path: Path, out: Path | None) -> int:
    median = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"\n{path.name} ({path.stat().st_size / 1e9:.2f} GB); medians of {max(len(times.get(INSPECTOR, [])), len(app))} runs"
    )
    print(f"python {sys.version.split()[0]}, {torch_version()}, {os.cpu_count()} CPUs")
    ok = True
    if median:
        ok = list_rows(median)
    summary = {"medians": median, "size_bytes": path.stat().st_size}
    if app:
        summary["app"] = app_rows(app)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


def list_rows(median: dict[str, float]) -> bool:
    for name, seconds in median.items():
        base = median[TORCH_MMAP] if name in IN_PROCESS else median[E2E_TORCH]
        ratio = "" if name == E2E_IMPORT else f"{seconds / base:6.2f}x"
        print(f"{name:<70} {seconds:6.3f} s {ratio}")
    ok = median[INSPECTOR] < LIST_TARGET_S
    print(f"\n{'PASS' if ok else 'FAIL'} listed in {median[INSPECTOR]:.3f} s after import torch "
          f"(target < {LIST_TARGET_S} s); end to end {median[E2E_LIST] - median[E2E_IMPORT]:+.3f} s over import torch")  # fmt: skip
    return ok


def app_rows(app: list[dict]) -> dict[str, float]:
    frames = [f for record in app for f in record["frames_ms"]]
    rows = {
        "app: start -> window's first paint (after the interpreter started)": statistics.median(
            r["window_first_paint"] for r in app),
        "app: torch imported at that paint (0/1)": float(any(r["torch_at_first_paint"] for r in app)),
        "app: open -> load done and events settled": statistics.median(r["open_to_loaded"] for r in app),
        "app: open -> first tree paint": statistics.median(r["first_paint"] for r in app),
        "app: tree frame (repaint), median ms": statistics.median(frames),
        "app: tree frame (repaint), worst ms": max(frames),
        "app: same frame of a 40-entry file, median ms": statistics.median(
            f for record in app for f in record["small_frames_ms"]),
        "app: select -> stats shown": statistics.median(r["stats_seconds"] for r in app),
        "app: stats cancel -> thread ended, ms": statistics.median(
            r["cancel_ms"] for r in app if r["cancel_ms"] is not None) if any(
            r["cancel_ms"] is not None for r in app) else float("nan"),
        "app: close, ms": statistics.median(r["close_ms"] for r in app),
    }  # fmt: skip
    for name, value in rows.items():
        print(f"{name:<70} {value:8.3f}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=5.0)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--no-gui", action="store_true", help="skip the app rows")
    parser.add_argument("--app-only", action="store_true", help="only the app rows")
    parser.add_argument("--no-verify", action="store_true", help="skip zipfile.testzip() of the file")
    parser.add_argument("--keep", action="store_true", help="keep the file (printed) instead of removing it")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    free = shutil.disk_usage(args.dir).free
    if free < 2e9:  # the file is sparse (~10 MB); a file system without holes would need all of it
        raise SystemExit(f"error: {args.dir}: only {free / 1e9:.1f} GB free; choose another --dir")
    folder = Path(tempfile.mkdtemp(prefix="inspector-scale-", dir=args.dir))
    try:
        path = write_file(folder, args.size_gb, args.entries)
        if not args.no_verify:
            verify(path)
        small = folder / "small.pth"  # 40 entries: enough rows to fill the tree, to compare frames with
        code = f"import torch; torch.save({{f'layers.{{i}}.weight': torch.ones(4) for i in range(40)}}, {str(small)!r})"
        subprocess.run([sys.executable, "-c", code], check=True)
        times, app = measure(path, small, args)
        return report(times, app, path, args.json)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
