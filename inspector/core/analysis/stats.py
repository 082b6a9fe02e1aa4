"""Exact per-tensor statistics, computed in chunks so that a multi-GB tensor needs little memory.

Stats are asked for, never computed at load time: :func:`iter_tensor_stats` is a job (see
``inspector.core.jobs``) that yields progress between chunks, so the GUI can show it and cancel it.
Chunks are combined with Chan's parallel formula, so mean and std stay exact in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from inspector.core.jobs import Job, Progress, run_job

CHUNK_ELEMENTS = 1 << 22  # 4M elements: ~32 MB as float64, the most a chunk ever holds


@dataclass(frozen=True)
class TensorStats:
    """Summary of a tensor's values. ``min``/``max``/``mean``/``std`` are over finite values only."""

    numel: int
    min: float
    max: float
    mean: float
    std: float
    zeros: int
    nan: int
    inf: int

    @property
    def zeros_pct(self) -> float:
        return 100.0 * self.zeros / self.numel if self.numel else 0.0

    def to_json(self) -> dict[str, Any]:
        def clean(x: float) -> float | None:
            return x if math.isfinite(x) else None  # JSON has no NaN or Infinity

        return {
            "numel": self.numel,
            "min": clean(self.min),
            "max": clean(self.max),
            "mean": clean(self.mean),
            "std": clean(self.std),
            "zeros_pct": self.zeros_pct,
            "zeros": self.zeros,
            "nan": self.nan,
            "inf": self.inf,
        }


def as_plain_tensor(tensor):
    """A detached, dense torch tensor that arithmetic works on (quantized dequantized, bool as uint8).

    Whatever the file stored, statistics, pictures and diffs need plain numbers; numpy arrays are accepted too.
    """
    import torch

    if not isinstance(tensor, torch.Tensor):
        import numpy as np

        tensor = torch.from_numpy(np.ascontiguousarray(np.asarray(tensor)))
    check_viewable(tensor)
    t = tensor.detach()
    if t.is_quantized:
        t = t.dequantize()
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    elif t.dtype in (torch.uint16, torch.uint32, torch.uint64):  # few kernels exist for these
        t = t.to(torch.float64)
    elif t.is_floating_point() and t.element_size() == 1:  # float8 kinds: plain float32 for arithmetic
        t = t.to(torch.float32)
    return t


def check_viewable(tensor) -> None:
    """Refuse, before any work, a tensor whose values cannot or should not be read: a meta tensor (shape only),
    one past ``max_view_elements``, or a view that shows far more elements than its storage holds (stride 0,
    ``expand``), which is how a few bytes can declare 10^12 values."""
    import torch

    from inspector.core.errors import InspectorError
    from inspector.core.limits import Limits, setting

    shape = "x".join(map(str, tensor.shape)) or "scalar"
    if tensor.device.type == "meta":
        raise InspectorError(
            f"the {shape} tensor is on the meta device: the file holds its shape but no values"
        )
    limits = Limits.from_env()
    count = tensor.numel()
    if count > limits.max_view_elements:
        raise InspectorError(
            f"the {shape} tensor has {count:,} elements, more than {limits.max_view_elements:,} that one view "
            f"may read; raise {setting('max_view_elements')} to compute it"
        )
    if tensor.layout == torch.strided and not tensor.is_quantized and count:
        stored = tensor.untyped_storage().nbytes() // max(tensor.element_size(), 1)
        if count > limits.max_overlap_ratio * max(stored, 1) + (1 << 20):
            raise InspectorError(
                f"the {shape} tensor shows {count:,} elements over {stored:,} stored ones (stride 0 or expand); "
                f"refused; raise {setting('max_overlap_ratio')} to compute it anyway"
            )


def as_real_tensor(tensor):
    """:func:`as_plain_tensor` with complex values as their magnitude: what stats and pictures show."""
    t = as_plain_tensor(tensor)
    return t.abs() if t.is_complex() else t


def as_float_values(tensor):
    """:func:`as_real_tensor`, flattened: what the chunked passes walk over."""
    return as_real_tensor(tensor).reshape(-1)


def split_nonfinite(part):
    """``(finite values of part, NaN count, ±inf count)``; cheap when every value is finite (the usual case).

    Counts use ``count_nonzero`` on the chunk's own dtype: ``mask.sum()`` would copy each mask to int64 and
    a float64 ``isinf`` costs four times a float32 one.
    """
    import torch

    if not (part.dtype.is_floating_point or part.dtype.is_complex):
        return part, 0, 0
    finite = torch.isfinite(part)
    n_finite = int(torch.count_nonzero(finite))
    if n_finite == part.numel():
        return part, 0, 0
    nans = int(torch.count_nonzero(torch.isnan(part)))
    return part[finite], nans, part.numel() - n_finite - nans


def iter_tensor_stats(tensor, chunk: int = CHUNK_ELEMENTS) -> Job[TensorStats]:
    """Yield progress per chunk; return the exact :class:`TensorStats` of ``tensor``.

    Per chunk: min/max on the stored dtype (exact), mean and variance in float64 (``var_mean``), merged across
    chunks with Chan's formula.
    """
    import torch

    flat = as_float_values(tensor)
    n = flat.numel()
    count = 0  # finite values seen
    mean = 0.0
    m2 = 0.0
    lo, hi = math.inf, -math.inf
    zeros = nans = infs = 0
    chunks = max(1, math.ceil(n / chunk))
    for i in range(chunks):
        part, part_nans, part_infs = split_nonfinite(flat[i * chunk : (i + 1) * chunk])
        nans += part_nans
        infs += part_infs
        k = part.numel()
        zeros += k - int(torch.count_nonzero(part))
        if k:
            low, high = torch.aminmax(part)
            lo, hi = min(lo, float(low)), max(hi, float(high))
            part_var, part_mean = torch.var_mean(part.to(torch.float64), correction=0)
            part_mean, part_m2 = float(part_mean), float(part_var) * k
            delta = part_mean - mean
            total = count + k
            mean += delta * k / total
            m2 += part_m2 + delta * delta * count * k / total
            count = total
        yield Progress(i + 1, chunks, "computing stats")
    std = math.sqrt(m2 / (count - 1)) if count > 1 else 0.0
    if count == 0:
        lo = hi = mean = std = math.nan
    return TensorStats(numel=n, min=lo, max=hi, mean=mean, std=std, zeros=zeros, nan=nans, inf=infs)


def tensor_stats(tensor) -> TensorStats:
    """:func:`iter_tensor_stats` driven to the end on this thread."""
    return run_job(iter_tensor_stats(tensor))
