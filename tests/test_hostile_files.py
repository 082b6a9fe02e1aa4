"""Hostile files through the CLI: every case of ``hostile_factory`` is refused or listed, and nothing else happens.

One module fixture builds every case into a temporary folder and runs ``tests/hostile_runner.py`` once, as a
subprocess: it forks one fenced child per (case, verb) for ``inspector list|stats --json FILE`` (address space
capped at +3 GiB, ``alarm(90)`` against hangs, its own cwd/TMPDIR/HOME) and writes a JSON report. The tests read that report:

- ``test_outcome``: exit 1 with one ``error: ...`` line (not "unexpected"), or exit 0 with strict JSON, as the case
  expects; no signal, under 20 s of CPU (wall time swings with the load), under 3 GiB of growth.
- ``test_side_effects``: no file left in the child's cwd (``*.patch``), TMPDIR or HOME; neither the planted secret
  nor the planted marker value (files outside the checkpoint) in the output.
- ``test_no_code_ran``: the case's sentinel (and ``<sentinel>.*``) was never created.
- ``.pth`` files in site-packages, the files planted outside, and the TorchScript payload's reality are checked once.

Two more tests load files in this process: an evil and a clean file at once on two threads (the evil one is always
refused, the clean one never blamed), and BUILD gadgets that would change torch's own functions or classes.
The report and every child's output stay under pytest's temporary folder (the path is in each failure message).
"""

from __future__ import annotations

import faulthandler
import fractions
import hashlib
import json
import os
import pathlib
import site
import subprocess
import sys
import threading
import types

import hostile_factory as hf
import pytest
import torch

HERE = pathlib.Path(__file__).resolve().parent
RUNNER = HERE / "hostile_runner.py"
VERBS = ("list", "stats")
TIME_LIMIT_S = 20  # CPU seconds a child may use: the bound on the work a file's content decides
WALL_LIMIT_S = 90  # the child's alarm: a hang (no CPU used) still ends; wall time alone swings with the load
MEMORY_LIMIT_KB = 3 << 20  # 3 GiB
RUNNER_TIMEOUT_S = 600
CASE_VERBS = [(case, verb) for case in hf.CASES for verb in VERBS]
DANGEROUS_HINTS = ("os.", "posix.", "nt.", "subprocess.", "builtins.eval", "builtins.exec", "system")


def _pth_files() -> set[str]:
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return {str(p) for folder in folders if os.path.isdir(folder) for p in pathlib.Path(folder).glob("*.pth")}


def _snapshot(folder: pathlib.Path) -> dict[str, str]:
    """name -> sha256 of every regular file (FIFOs and links as what they are)."""
    out = {}
    for p in sorted(folder.iterdir()):
        if p.is_symlink():
            out[p.name] = "link -> " + os.readlink(p)
        elif p.is_file():
            out[p.name] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[p.name] = "special"
    return out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Build every case, run the runner once, return its report keyed by (case, verb)."""
    faulthandler.cancel_dump_traceback_later()  # the one long setup below is expected (pytest's 120 s dump)
    root = tmp_path_factory.mktemp("hostile")
    pth_before = _pth_files()
    payload_ok = hf.check_torchscript_payload(root / "payload_check")
    cases_dir, sentinels = root / "cases", root / "sentinels"
    paths = hf.build_all(cases_dir, sentinels)
    outside = hf.outside(cases_dir)
    outside_before = _snapshot(outside)
    manifest = [{"case": case, "path": str(path)} for case, path in paths.items()]
    (cases_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    report_path = root / "report.json"
    try:
        proc = subprocess.run(
            [sys.executable, str(RUNNER), str(cases_dir), str(report_path), "--timeout", str(WALL_LIMIT_S)],
            cwd=root, capture_output=True, text=True, timeout=RUNNER_TIMEOUT_S,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"hostile_runner.py ran past {RUNNER_TIMEOUT_S}s; its output so far:\n{exc.stdout}")
    (root / "runner.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not report_path.exists():
        pytest.fail(
            f"hostile_runner.py failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    report = {(r["case"], r["verb"]): r for r in json.loads(report_path.read_text())}
    return types.SimpleNamespace(
        root=root, report=report, sentinels=sentinels, payload_ok=payload_ok, pth_before=pth_before,
        pth_after=_pth_files(), outside=outside, outside_before=outside_before, outside_after=_snapshot(outside),
    )  # fmt: skip


def _record(hostile, case, verb) -> dict:
    rec = hostile.report.get((case, verb))
    if rec is None:
        pytest.fail(f"the runner reported nothing for {case} {verb}")
    return rec


def _describe(case: str, rec: dict, problems: list[str]) -> str:
    what = " ".join((hf.CASES[case][0].__doc__ or "").split())
    stderr = "\n    ".join(rec["stderr_lines"][:4]) or "(empty)"
    return (
        f"{case} [{rec['verb']}]: " + "; ".join(problems)
        + f"\n  exploits: {what}\n  stderr ({rec['stderr_line_count']} lines):\n    {stderr}"
        + f"\n  {rec['seconds']}s, +{rec['rss_growth_kb'] // 1024} MB, stdout {rec['stdout_bytes']} B, run dir {rec['run_dir']}"
    )  # fmt: skip


def outcome_problems(rec: dict, expected: str) -> list[str]:
    problems = []
    code = rec["exit_code"]
    if rec["signal"] is not None:
        why = {"SIGALRM": f" (ran past {WALL_LIMIT_S}s)", "SIGSEGV": " (crash)", "SIGKILL": " (killed)"}
        problems.append(f"killed by {rec['signal_name']}{why.get(rec['signal_name'], '')}")
    elif code == 1:
        lines = rec["stderr_lines"]
        if expected == "listed":
            problems.append("refused (exit 1) but the case expects it listed")
        if rec["stderr_line_count"] != 1 or not lines[0].startswith("error: "):
            problems.append(f"stderr is {rec['stderr_line_count']} lines, not one 'error: ...' line")
        if any("unexpected" in line for line in lines):
            problems.append("the error is an 'unexpected' one")
    elif code == 0:
        if expected == "refused":
            problems.append("listed (exit 0) but the case expects a refusal")
        if not rec["stdout_is_strict_json"]:
            problems.append(f"stdout is not strict JSON ({rec['json_error']})")
    else:
        meaning = {2: "an 'unexpected' error", 70: "main() raised; traceback on stderr"}
        problems.append(f"exit {code} ({meaning.get(code, 'neither 0 nor 1')})")
    if rec["cpu_seconds"] >= TIME_LIMIT_S:  # (the bombs take 2 s of CPU each, 15-20 s of wall time 8 at once)
        problems.append(f"used {rec['cpu_seconds']}s of CPU ({rec['seconds']}s of wall time)")
    if rec["rss_growth_kb"] >= MEMORY_LIMIT_KB:
        problems.append(f"memory grew by {rec['rss_growth_kb'] // 1024} MB")
    return problems


@pytest.mark.parametrize(("case", "verb"), CASE_VERBS, ids=[f"{c}-{v}" for c, v in CASE_VERBS])
def test_outcome(hostile, case, verb):
    rec = _record(hostile, case, verb)
    problems = outcome_problems(rec, hf.CASES[case][1])
    assert not problems, _describe(case, rec, problems)


@pytest.mark.parametrize(("case", "verb"), CASE_VERBS, ids=[f"{c}-{v}" for c, v in CASE_VERBS])
def test_side_effects(hostile, case, verb):
    rec = _record(hostile, case, verb)
    problems = []
    left = rec["new_files"]
    if left["cwd"]:
        problems.append(f"files left in the working directory: {left['cwd'][:5]}")
    for where in ("tmp", "home"):
        files = [
            f for f in left[where] if not f.endswith("/")
        ]  # empty folders (a library's cache dir) are fine
        if files:
            problems.append(f"files left in {where.upper()}: {files[:5]}")
    for stream in ("stdout", "stderr"):
        text = pathlib.Path(rec[f"{stream}_path"]).read_bytes()[: 64 << 20].decode("utf-8", "replace")
        if hf.SECRET in text:
            problems.append(f"the secret planted outside the checkpoint is in {stream}")
        if hf.MARKER_TEXT in text:
            problems.append(f"the value stored outside the checkpoint ({hf.MARKER_TEXT}) is in {stream}")
    assert not problems, _describe(case, rec, problems)


@pytest.mark.parametrize("case", list(hf.CASES))
def test_no_code_ran(hostile, case):
    created = sorted(
        p.name for p in hostile.sentinels.iterdir() if p.name == case or p.name.startswith(case + ".")
    )
    verbs = {v: _record(hostile, case, v) for v in VERBS}
    outcomes = ", ".join(
        f"{v}: exit {r['exit_code']}" if r["signal"] is None else f"{v}: {r['signal_name']}"
        for v, r in verbs.items()
    )
    assert not created, (
        f"{case}: attacker code ran: it created {created} ({outcomes})\n"
        f"  exploits: {' '.join((hf.CASES[case][0].__doc__ or '').split())}"
    )


def test_torchscript_payload_is_real(hostile):
    """The nested-TorchScript cases prove something only if the payload does create its file under torch."""
    assert hostile.payload_ok, "the TorchScript payload did not create its sentinel under torch.jit.load"


def test_no_new_pth_files(hostile):
    assert hostile.pth_after - hostile.pth_before == set()


def test_outside_files_untouched(hostile):
    assert hostile.outside_after == hostile.outside_before


def test_every_case_was_run(hostile):
    missing = [f"{c}-{v}" for c, v in CASE_VERBS if (c, v) not in hostile.report]
    assert not missing


# -- in this process -----------------------------------------------------------------------------------------
def _dangerous(names) -> list[str]:
    return [n for n in names if any(h in n for h in DANGEROUS_HINTS)]


@pytest.mark.parametrize("clean_kind", ["zip", "pickle"])
def test_concurrent_evil_and_clean_loads(tmp_path, clean_kind):
    """An evil file (os.system inside a nested _load_from_bytes) and a clean one, 20 times each on two threads at
    once: the evil one always raises UnsafeCheckpointError, the clean one always loads its values, never blamed."""
    from inspector.core.checkpoint.loader import load_checkpoint
    from inspector.core.errors import UnsafeCheckpointError

    sentinel = tmp_path / "concurrency_sentinel"
    evil = hf.build_os_system_nested_plain(tmp_path, sentinel)
    clean, state = hf.write_clean_state_dict(tmp_path, clean_kind)
    rounds = 20
    barrier = threading.Barrier(2)
    problems: list[str] = []

    def evil_loop():
        barrier.wait()
        for i in range(rounds):
            try:
                ckpt = load_checkpoint(evil, resolve=False)
            except UnsafeCheckpointError:
                continue
            except Exception as exc:  # noqa: BLE001 (we report whatever it was)
                problems.append(f"evil round {i}: {type(exc).__name__}: {exc}")
            else:
                problems.append(f"evil round {i}: loaded (globals {ckpt.globals_referenced})")

    def clean_loop():
        barrier.wait()
        for i in range(rounds):
            try:
                ckpt = load_checkpoint(clean, resolve=False)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"clean round {i}: {type(exc).__name__}: {exc}")
                continue
            bad = _dangerous(ckpt.globals_referenced)
            if bad:
                problems.append(f"clean round {i}: dangerous globals recorded against it: {bad}")
            for name, tensor in state.items():
                if not torch.equal(ckpt.tensor(name), tensor):
                    problems.append(f"clean round {i}: {name} has other values")

    threads = [
        threading.Thread(target=evil_loop, daemon=True),
        threading.Thread(target=clean_loop, daemon=True),
    ]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, so shared state between the two loads shows
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    assert not any(t.is_alive() for t in threads), "the two loads did not finish in 120 s (deadlock?)"
    assert not sentinel.exists(), "os.system ran"
    assert not problems, "\n".join(problems[:20])


def _function_state(fn) -> tuple:
    return (fn.__defaults__, fn.__kwdefaults__, dict(fn.__dict__), fn.__code__, fn.__name__)


def _restore_function(fn, state: tuple) -> None:
    fn.__defaults__, fn.__kwdefaults__, _, fn.__code__, fn.__name__ = state
    fn.__dict__.clear()
    fn.__dict__.update(state[2])


@pytest.mark.parametrize("case", ["function_defaults_build", "function_dict_build"])
def test_function_build_leaves_torch_intact(tmp_path, case):
    """BUILD on torch._utils._rebuild_tensor_v2 must not change it: afterwards a clean file still loads its values."""
    from inspector.core.checkpoint.loader import load_checkpoint
    from inspector.core.errors import InspectorError

    fn = torch._utils._rebuild_tensor_v2
    before = _function_state(fn)
    evil = hf.CASES[case][0](tmp_path, tmp_path / "sentinel")
    clean, state = hf.write_clean_state_dict(tmp_path, "zip")
    problems = []
    try:
        try:
            load_checkpoint(evil, resolve=False)
        except InspectorError:
            pass
        except Exception as exc:  # noqa: BLE001 (the CLI tests judge the outcome; here only torch's state)
            problems.append(f"loading {case} raised {type(exc).__name__}: {exc}")
        after = _function_state(fn)
        if after != before:
            fields = ("__defaults__", "__kwdefaults__", "__dict__", "__code__", "__name__")
            changed = {f: a for f, a, b in zip(fields, after, before, strict=True) if a != b}
            problems.append(f"torch._utils._rebuild_tensor_v2 changed: {changed}")
        try:
            ckpt = load_checkpoint(clean, resolve=False)
            for name, tensor in state.items():
                if not torch.equal(ckpt.tensor(name), tensor):
                    problems.append(f"afterwards the clean file's {name} has other values")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"afterwards the clean file fails to load: {type(exc).__name__}: {exc}")
    finally:
        _restore_function(fn, before)
    assert not problems, "\n".join(problems)


def test_class_build_leaves_classes_intact(tmp_path, monkeypatch):
    """BUILD (None, {'dump_patches': True, '__name__': ...}) on fractions.Fraction in a legacy file must not change
    the class, nor make torch write a .patch file (here: into this test's folder)."""
    from inspector.core.checkpoint.loader import load_checkpoint
    from inspector.core.errors import InspectorError

    monkeypatch.chdir(tmp_path)
    cls = fractions.Fraction
    had_dump_patches = "dump_patches" in vars(cls)
    name = cls.__name__
    sentinel = tmp_path / "sentinel"
    (tmp_path / "case").mkdir()
    evil = hf.build_legacy_dump_patches_traversal(tmp_path / "case", sentinel)
    problems = []
    try:
        try:
            load_checkpoint(evil, resolve=False)
        except InspectorError:
            pass
        except Exception as exc:  # noqa: BLE001
            problems.append(f"loading raised {type(exc).__name__}: {exc}")
        if "dump_patches" in vars(cls) and not had_dump_patches:
            problems.append("fractions.Fraction gained dump_patches")
        if cls.__name__ != name:
            problems.append(f"fractions.Fraction.__name__ is now {cls.__name__!r}")
        written = sorted(p.name for p in tmp_path.rglob("*.patch"))
        if written:
            problems.append(f".patch files written: {written}")
    finally:
        if "dump_patches" in vars(cls) and not had_dump_patches:
            del cls.dump_patches
        cls.__name__ = name
    assert not problems, "\n".join(problems)
