"""Scale: a 2,000-entry state dict lists without reading its tensor data (the 5 GB figures: bench_scale.py)."""

import time
import zipfile

import pytest
import torch

from benchmarks.sparse_checkpoint import write_sparse_state_dict
from inspector.core.checkpoint.loader import load_checkpoint

ENTRIES = 2000
BYTES_EACH = 256 * 1024  # 500 MiB of tensor data in all, a sparse file of a few MB on disk


def file_rss() -> int:
    """Bytes of file-backed memory mapped into this process (``RssFile``): what reading a mmap'd file adds.

    Tensors are views of one private mapping of the file that stays open with the Checkpoint, so any read of
    tensor data during the listing would still be mapped in when it returns (the zip's own headers are read
    through a separate mapping that is closed by then)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssFile:"):
                return int(line.split()[1]) * 1024
    pytest.skip("no RssFile in /proc/self/status")


@pytest.fixture(scope="module")
def big_sparse(tmp_path_factory):
    return write_sparse_state_dict(tmp_path_factory.mktemp("scale") / "big.pth", ENTRIES, BYTES_EACH)


def test_the_sparse_file_is_an_honest_torch_save_file(big_sparse):
    """torch wrote every record and its CRC-32 (zipfile checks it on reading); zero blocks are only holes."""
    assert big_sparse.stat().st_size > ENTRIES * BYTES_EACH
    assert big_sparse.stat().st_blocks * 512 < 0.05 * ENTRIES * BYTES_EACH
    with zipfile.ZipFile(big_sparse) as archive:
        records = [n for n in archive.namelist() if "/data/" in n]
        assert len(records) == ENTRIES
        assert archive.read(records[-1]) == bytes(BYTES_EACH)


def test_listing_2000_entries_reads_no_tensor_data(big_sparse, tmp_path):
    torch.save({"w": torch.ones(4)}, tmp_path / "small.pth")
    load_checkpoint(tmp_path / "small.pth")  # imports and first-use costs out of the way
    before = file_rss()
    started = time.perf_counter()
    ckpt = load_checkpoint(big_sparse)
    seconds = time.perf_counter() - started
    listed = file_rss() - before
    print(f"listed {len(ckpt.entries)} entries of {ENTRIES * BYTES_EACH >> 20} MiB in {seconds:.3f} s, "
          f"{listed >> 20} MiB of the file mapped in")  # fmt: skip
    assert len(ckpt.entries) == ENTRIES and ckpt.totals.bytes == ENTRIES * BYTES_EACH
    assert listed < 0.05 * ENTRIES * BYTES_EACH  # measured: 0 MiB
    # the measure sees reads: summing 200 tensors maps their 100 MiB in
    for i in range(200):
        ckpt.tensor(f"layers.{i}.weight").sum()
    assert file_rss() - before - listed > 0.9 * 200 * BYTES_EACH
