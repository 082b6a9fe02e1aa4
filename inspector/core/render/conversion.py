"""Any tensor (torch or numpy, quantized, sparse, complex, bool) as plain CPU values to draw.

Every picture reads its tensor through these helpers, so odd dtypes and layouts are handled once, and
:data:`inspector.core.analysis.stats.CHUNK_ELEMENTS` bounds the memory of every chunked pass over a large tensor.
"""

from __future__ import annotations

import numpy as np

from inspector.core.analysis.stats import as_real_tensor


def as_numpy32(tensor) -> np.ndarray:
    """``tensor`` as a float32 numpy array (for small tensors: conv kernels, reduced views)."""
    import torch

    return as_real_tensor(tensor).to(torch.float32).numpy()


def scalar_value(tensor) -> int | float | bool | complex:
    """The first element as a Python number, exactly (an int64 step counter is not rounded to float)."""
    import torch

    t = tensor if isinstance(tensor, torch.Tensor) else torch.as_tensor(np.asarray(tensor))
    t = t.detach()
    if t.is_quantized:
        t = t.dequantize()
    return t.reshape(-1)[0].item()


def _finite_absmax(a: np.ndarray, axis=None) -> np.ndarray:
    mag = np.abs(a)
    return np.where(np.isfinite(mag), mag, 0.0).max(axis=axis, initial=0.0)
