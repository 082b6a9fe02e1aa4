"""The full fuzz run: mutations of valid checkpoints of every form through ``list`` and ``verify``.

    python scripts/fuzz_checkpoints.py [--count 3000] [--seed 0] [--out DIR] [--verbs list,verify]

Every case must open or give the one-line error, and ``verify`` must end with a report or that error; none
may crash, hang (each load runs in a fenced forked child under ``alarm``, ``tests/hostile_runner.py``), leave
files behind or run code. Prints the counts per outcome (and per form and mutation), the failures with their
first stderr line, and exits 1 when there is any. ``tests/test_fuzz.py`` runs a fixed-seed subset in CI.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import fuzz_factory as ff  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=pathlib.Path, help="folder for cases and report (default: a temp folder)"
    )
    parser.add_argument("--verbs", default="list,verify")
    parser.add_argument("--timeout", type=int, default=20, help="seconds per load (alarm)")
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args(argv)
    out = args.out or pathlib.Path(tempfile.mkdtemp(prefix="fuzz-"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    _, records = ff.run_fuzz(out, args.count, args.seed, args.verbs.split(","), args.timeout, args.jobs)
    elapsed = time.monotonic() - start
    print(
        f"{args.count} cases x {args.verbs} = {len(records)} runs in {elapsed:.0f} s (seed {args.seed}, {out})"
    )
    for verb in args.verbs.split(","):
        counts = collections.Counter(r["outcome"] for r in records if r["verb"] == verb)
        print(f"{verb:7s} " + ", ".join(f"{outcome}: {n}" for outcome, n in counts.most_common()))
    by_form = collections.defaultdict(collections.Counter)
    for r in records:
        by_form[(r["verb"], r["form"])][r["outcome"]] += 1
    for (verb, form), counts in sorted(by_form.items()):
        print(f"  {verb:7s} {form:18s} " + ", ".join(f"{o}: {n}" for o, n in counts.most_common()))
    outcomes = collections.defaultdict(dict)
    for r in records:
        outcomes[r["case"]][r["verb"]] = r["outcome"]
    silent = sum(v == {"list": "opened", "verify": "damage found"} for v in outcomes.values())
    contradicted = sum(v == {"list": "error", "verify": "verified"} for v in outcomes.values())
    print(f"opened by list but damaged per verify: {silent}; refused by list but verified ok: {contradicted}")
    slowest = max(records, key=lambda r: r["seconds"])
    print(f"slowest run: {slowest['seconds']:.2f} s ({slowest['case']} {slowest['verb']})")
    failures = [r for r in records if r["outcome"] not in ff.PASS_OUTCOMES]
    for r in failures:
        first = r["stderr_lines"][0][:200] if r["stderr_lines"] else ""
        print(f"FAIL {r['case']} {r['verb']}: {r['outcome']}: {first}")
    print(f"{len(failures)} failures")
    return 1 if failures or contradicted else 0


if __name__ == "__main__":
    sys.exit(main())
