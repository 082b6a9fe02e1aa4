"""``inspector verify`` on a big zip checkpoint beside a bare zipfile CRC pass and ``torch.load``, one run.

    python benchmarks/bench_verify.py [--size-mb 512] [--repeats 5]

verify streams every record through ``zipfile`` (CRC-32) and reads the pickle with storages on the meta device;
its cost should be the CRC pass alone. Rows: verify, a bare loop reading every record with ``zipfile`` in 4 MiB
chunks (the floor: zlib's CRC-32 over every byte), ``torch.load(weights_only=True)`` (reads every byte, checks
nothing) and inspector's listing. Warm page cache (the file is read once first); medians of ``--repeats``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import torch_version, warm  # noqa: E402


def _median_s(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _bare_crc(path: Path) -> None:
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            with z.open(info) as f:
                while f.read(4 << 20):
                    pass


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    import torch

    from inspector.core.checkpoint.loader import load_checkpoint
    from inspector.core.checkpoint.verify import verify_checkpoint

    layers = max(1, args.size_mb // 4)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.pth"
        torch.save({f"layer{i}.weight": torch.randn(1024, 1024) for i in range(layers)}, path)
        warm(path)
        size_mb = os.path.getsize(path) / (1 << 20)
        rows = {
            "inspector verify": _median_s(lambda: verify_checkpoint(path), args.repeats),
            "bare zipfile CRC pass": _median_s(lambda: _bare_crc(path), args.repeats),
            "torch.load(weights_only=True)": _median_s(
                lambda: torch.load(path, map_location="cpu", weights_only=True), args.repeats
            ),
            "inspector listing": _median_s(lambda: load_checkpoint(path, resolve=False), args.repeats),
        }
    print(
        f"{size_mb:.0f} MiB, {layers} tensors; {torch_version()}; {os.cpu_count()} CPUs; medians of {args.repeats}"
    )
    base = rows["bare zipfile CRC pass"]
    for name, seconds in rows.items():
        print(
            f"{name:32s} {seconds:7.3f} s  {size_mb / seconds:7.0f} MiB/s  x{seconds / base:5.2f} of the bare CRC pass"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
