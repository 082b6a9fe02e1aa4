"""Run ``inspector list/stats --json`` on every hostile file, each in a forked, fenced child; write a JSON report.

    python tests/hostile_runner.py CASE_DIR OUT_JSON [--jobs N] [--timeout S] [--verbs list,stats]

CASE_DIR holds the files (and optionally ``manifest.json``: ``[{"case": name, "path": file}, ...]``; without it
every file in CASE_DIR is a case named after the file). ``inspector.cli`` (and torch, numpy) are imported once
here; no torch computation runs in this process, so each ``os.fork()`` is cheap and safe. Each child:

- caps its address space (RLIMIT_AS) at its current VmSize + 3 GiB and forbids core files,
- arms ``signal.alarm(timeout)`` (the parent also SIGKILLs it a few seconds past that),
- runs in its own scratch folder ``<runs>/<case>.<verb>/`` with ``cwd/``, ``tmp/`` (TMPDIR) and ``home/`` (HOME)
  and stdout/stderr redirected to ``stdout.txt`` / ``stderr.txt`` there,
- calls ``inspector.cli.main([verb, "--json", path])`` and ``os._exit``\\ s with its return value.

The parent collects each child with ``os.wait4`` and writes a list of results (see :func:`result`).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import signal
import sys
import time
import traceback

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import contextlib  # noqa: E402

import numpy  # noqa: E402,F401  (imported before forking so children start warm)
import torch  # noqa: E402,F401

try:
    import inspector.cli as cli  # noqa: E402

    cli.build_parser()  # imports the verb modules
    import inspector.core.checkpoint.loader  # noqa: E402,F401
except Exception:  # a broken tree still gets a report: every child re-raises it as a traceback
    cli = None
    IMPORT_ERROR = traceback.format_exc()
else:
    IMPORT_ERROR = ""

EXTRA_AS = 3 << 30
MAX_READ = 64 << 20
CHILD_CRASHED = 70  # exit code of a child whose main() raised (a traceback is on its stderr)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _child(verb: str, path: str, run: pathlib.Path, timeout: int) -> None:
    code = CHILD_CRASHED
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, name in ((1, "stdout.txt"), (2, "stderr.txt")):
            out = os.open(run / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
            os.close(out)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        limit = _status_kb("VmSize") * 1024 + EXTRA_AS
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        os.environ["TMPDIR"] = str(run / "tmp")
        os.environ["HOME"] = str(run / "home")
        import tempfile

        tempfile.tempdir = None
        os.chdir(run / "cwd")
        signal.alarm(timeout)
        if cli is None:
            sys.stderr.write(IMPORT_ERROR)
        else:
            try:
                code = cli.main([verb, "--json", path])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
        code = CHILD_CRASHED
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        os._exit(int(code or 0) & 0xFF)


def _files_under(folder: pathlib.Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            full = os.path.join(root, name)
            if name in files or os.path.islink(full):
                found.append(os.path.relpath(full, folder))
            elif not os.listdir(full):
                found.append(os.path.relpath(full, folder) + "/")
    return sorted(found)


def _strict_json(data: bytes) -> tuple[bool, str]:
    if not data.strip():
        return False, "stdout is empty"
    if len(data) >= MAX_READ:
        return False, f"stdout is larger than {MAX_READ} bytes"

    def refuse(name):
        raise ValueError(f"non-standard constant {name}")

    try:
        json.loads(data.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError) as exc:
        return False, f"{type(exc).__name__}: {str(exc)[:300]}"
    return True, ""


def _read(path: pathlib.Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_READ)
    except OSError:
        return b""


def result(job: dict, status: int, usage, seconds: float, killed: bool) -> dict:
    """One record: case, verb, exit_code or signal, seconds, maxrss_kb (and growth over the parent), strict JSON,
    stderr lines, and the files left in the child's cwd/tmp/home."""
    run = job["run"]
    stdout = _read(run / "stdout.txt")
    stderr = _read(run / "stderr.txt").decode("utf-8", "replace")
    strict, why = _strict_json(stdout)
    lines = stderr.splitlines()
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return {
        "case": job["case"],
        "verb": job["verb"],
        "path": job["path"],
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": sig,
        "signal_name": signal.Signals(sig).name if sig else None,
        "killed_by_runner": killed,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "maxrss_kb": usage.ru_maxrss,
        "base_rss_kb": job["base_rss_kb"],
        "rss_growth_kb": max(0, usage.ru_maxrss - job["base_rss_kb"]),
        "stdout_bytes": len(stdout),
        "stdout_is_strict_json": strict,
        "json_error": why,
        "stderr_line_count": len(lines),
        "stderr_lines": [line[:2000] for line in lines[:20]],
        "run_dir": str(run),
        "stdout_path": str(run / "stdout.txt"),
        "stderr_path": str(run / "stderr.txt"),
        "new_files": {sub: _files_under(run / sub) for sub in ("cwd", "tmp", "home")},
    }


def default_jobs() -> int:
    """Children at once: hung children cost wall time, not CPU, so more than the cores; but never more than the
    memory can hold if every child grew to its 3 GiB cap."""
    try:
        with open("/proc/meminfo") as f:
            available = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:")) * 1024
    except (OSError, StopIteration):
        available = 8 << 30
    by_memory = int((available - (1 << 30)) // (EXTRA_AS + (256 << 20)))
    return max(1, min(8, 3 * (os.cpu_count() or 2), by_memory))


def _cases(case_dir: pathlib.Path) -> list[tuple[str, str]]:
    manifest = case_dir / "manifest.json"
    if manifest.exists():
        return [(c["case"], str(c["path"])) for c in json.loads(manifest.read_text())]
    return [(p.name, str(p)) for p in sorted(case_dir.iterdir()) if p.name != "manifest.json"]


def run_all(cases, verbs, scratch: pathlib.Path, jobs: int, timeout: int, log=sys.stdout) -> list[dict]:
    queue = [(case, verb, path) for case, path in cases for verb in verbs]
    running: dict[int, tuple[dict, float]] = {}
    results = []
    while queue or running:
        while queue and len(running) < jobs:
            case, verb, path = queue.pop(0)
            run = scratch / f"{case}.{verb}"
            for sub in ("cwd", "tmp", "home"):
                (run / sub).mkdir(parents=True, exist_ok=True)
            job = {"case": case, "verb": verb, "path": path, "run": run, "base_rss_kb": _status_kb("VmRSS")}
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(verb, path, run, timeout)
            job["killed"] = False
            running[pid] = (job, time.monotonic())
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for other, (job, started) in running.items():
                if now - started > timeout + 5 and not job["killed"]:
                    job["killed"] = True
                    for kill in (
                        lambda o=other: os.killpg(o, signal.SIGKILL),
                        lambda o=other: os.kill(o, signal.SIGKILL),
                    ):
                        with contextlib.suppress(ProcessLookupError, PermissionError):
                            kill()
            time.sleep(0.02)
            continue
        if pid not in running:
            continue
        job, started = running.pop(pid)
        seconds = time.monotonic() - started
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # anything the child left running
        rec = result(job, status, usage, seconds, job["killed"])
        results.append(rec)
        outcome = f"exit {rec['exit_code']}" if rec["signal"] is None else f"signal {rec['signal_name']}"
        first = rec["stderr_lines"][0][:150] if rec["stderr_lines"] else ""
        print(
            f"{rec['case']:40s} {rec['verb']:5s} {outcome:16s} {rec['seconds']:6.2f}s "
            f"+{rec['rss_growth_kb'] // 1024:5d}MB json={'y' if rec['stdout_is_strict_json'] else 'n'} {first}",
            file=log,
            flush=True,
        )
    order = {(c, v): i for i, (c, v, _) in enumerate((c, v, p) for c, p in cases for v in verbs)}
    return sorted(results, key=lambda r: order[(r["case"], r["verb"])])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case_dir", type=pathlib.Path)
    parser.add_argument("out_json", type=pathlib.Path)
    parser.add_argument(
        "--jobs", type=int, default=default_jobs(), help="children at once (default: %(default)s)"
    )
    parser.add_argument("--timeout", type=int, default=20, help="signal.alarm seconds per child")
    parser.add_argument("--verbs", default="list,stats")
    parser.add_argument("--scratch", type=pathlib.Path, help="default: <out_json without suffix>_runs")
    parser.add_argument("--only", action="append", help="run only this case (repeatable)")
    args = parser.parse_args(argv)
    cases = _cases(args.case_dir)
    if args.only:
        cases = [c for c in cases if c[0] in args.only]
    scratch = args.scratch or args.out_json.with_name(args.out_json.stem + "_runs")
    start = time.monotonic()
    results = run_all(cases, args.verbs.split(","), scratch, args.jobs, args.timeout)
    tmp = args.out_json.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    tmp.replace(args.out_json)
    print(f"{len(results)} runs in {time.monotonic() - start:.1f}s -> {args.out_json}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
