"""Exact statistics over chunks: every dtype, NaN/Inf, zeros, checked against numpy on the whole tensor."""

import math

import numpy as np
import pytest
import torch

from inspector.core.analysis.stats import iter_tensor_stats, split_nonfinite
from inspector.core.jobs import run_job
from inspector.core.render import histogram


def reference(values: np.ndarray) -> dict:
    flat = values.astype(np.float64).reshape(-1)
    finite = flat[np.isfinite(flat)]
    return {
        "min": finite.min(), "max": finite.max(), "mean": finite.mean(), "std": finite.std(ddof=1),
        "zeros": int((flat == 0).sum()), "nan": int(np.isnan(flat).sum()), "inf": int(np.isinf(flat).sum()),
    }  # fmt: skip


def with_nonfinite() -> torch.Tensor:
    t = torch.randn(10_000, generator=torch.Generator().manual_seed(3))
    t[::97] = 0.0
    t[5], t[500], t[9_999] = math.nan, math.inf, -math.inf
    return t


@pytest.mark.parametrize(
    "tensor",
    [
        with_nonfinite(),
        with_nonfinite().to(torch.float16),
        with_nonfinite().to(torch.bfloat16),
        torch.arange(-50, 950, dtype=torch.int64),
        torch.tensor([True, False, True, True]),
    ],
    ids=["float32", "float16", "bfloat16", "int64", "bool"],
)
def test_chunked_stats_equal_numpy_on_the_whole_tensor(tensor):
    stats = run_job(iter_tensor_stats(tensor, chunk=333))
    expected = reference(
        tensor.to(torch.float64).numpy() if tensor.dtype == torch.bfloat16 else tensor.numpy()
    )
    assert (stats.zeros, stats.nan, stats.inf) == (expected["zeros"], expected["nan"], expected["inf"])
    assert (stats.min, stats.max) == (expected["min"], expected["max"])
    assert stats.mean == pytest.approx(expected["mean"], rel=1e-12, abs=1e-12)
    assert stats.std == pytest.approx(expected["std"], rel=1e-12)


def test_split_nonfinite_counts_and_keeps_the_finite_values():
    part, nans, infs = split_nonfinite(torch.tensor([1.0, math.nan, math.inf, -math.inf, 0.0]))
    assert (part.tolist(), nans, infs) == ([1.0, 0.0], 1, 2)
    ints = torch.arange(4)
    assert split_nonfinite(ints)[0] is ints


def test_histogram_counts_every_finite_value_and_reports_the_rest():
    t = with_nonfinite()
    hist = histogram(t, bins=16)
    finite = t[torch.isfinite(t)].double().numpy()
    counts, _ = np.histogram(finite, bins=hist.edges)
    assert hist.total == finite.size and (hist.nan, hist.inf) == (1, 2)
    assert np.abs(hist.counts - counts).sum() <= 2  # histc and numpy may place a value on an edge differently
