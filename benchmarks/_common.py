"""Helpers shared by the benchmark scripts: peak-RSS probes, child processes, warm page cache, machine line.

Memory is read from ``/proc/self/status``: a measuring process resets its peak (``VmHWM``) to its current RSS
by writing ``5`` to ``/proc/self/clear_refs`` right before the operation, so the peak read afterwards is the
operation's alone. tracemalloc cannot see torch's allocations; RSS can. Kept free of heavy imports: measuring
children import it before ``import torch``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MB = 1e6


def proc_status(field: str) -> int:
    """A ``/proc/self/status`` size field (``VmRSS``, ``VmHWM``, ``RssAnon``...) in bytes; 0 when absent."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS; False where the kernel refuses (then peaks are since start-up)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child_env() -> dict[str, str]:
    """The environment of measuring children: the repository first on ``PYTHONPATH``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def run_json_child(args: list[str], what: str) -> dict:
    """Run ``python ARGS`` in the repository and return the JSON object on the last line of its stdout."""
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=child_env(), cwd=REPO, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"error: child failed ({what}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def warm(path: Path) -> None:
    """Read a file once so that the runs that follow find it in the page cache."""
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def torch_version() -> str:
    found = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True
    )
    return f"torch {found.stdout.strip() or '?'}"
