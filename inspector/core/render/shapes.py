"""Which picture suits a tensor, decided from its shape alone (no data is read).

The GUI picks its view with :func:`view_kind` and the CLI words its refusals with :func:`suggest_view`,
so both faces agree on what a conv weight, a matrix or a bias is.
"""

from __future__ import annotations

import math

MAX_KERNEL = 32  # a 4-D/5-D tensor with larger spatial dims is not drawn as a conv filter grid


def _kernel_dims(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[2:]) if len(shape) in (4, 5) else ()


def is_conv_weight(shape: tuple[int, ...]) -> bool:
    """A 4-D/5-D tensor whose spatial dims look like a kernel (not 1x1, none above :data:`MAX_KERNEL`)."""
    kernel = _kernel_dims(tuple(shape))
    return bool(kernel) and max(kernel) <= MAX_KERNEL and math.prod(kernel) > 1 and math.prod(shape) > 0


def view_kind(shape: tuple[int, ...]) -> str:
    """Which view shows a tensor of ``shape`` best: ``empty``, ``scalar``, ``bars``, ``heatmap`` or ``filters``.

    Size-1 dims are dropped first (``[1, 77, 768]`` is a matrix, a 1x1 conv ``[out, in, 1, 1]`` is the
    ``[out, in]`` matrix it multiplies by), except in conv kernels (a depthwise ``[64, 1, 3, 3]`` is filters).
    """
    shape = tuple(shape)
    if math.prod(shape) == 0:
        return "empty"
    if is_conv_weight(shape):
        return "filters"
    squeezed = [d for d in shape if d != 1]
    return {0: "scalar", 1: "bars"}.get(len(squeezed), "heatmap")


def matrix_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """The 2-D shape a heatmap draws an N-D tensor as (size-1 dims dropped).

    A small last dim (<= 16: kernel taps, heads) joins the columns, so each row is one leading index
    (a conv1d ``[out, in, k]`` becomes ``[out, in*k]``); otherwise the leading dims join the rows
    (``[heads, seq, dim]`` becomes ``[heads*seq, dim]``).
    """
    dims = [d for d in shape if d != 1] or [1]
    if len(dims) == 1:
        return 1, dims[0]
    if len(dims) == 2:
        return dims[0], dims[1]
    if dims[-1] <= 16:
        return dims[0], math.prod(dims[1:])
    return math.prod(dims[:-1]), dims[-1]


def suggest_view(shape: tuple[int, ...], name: str = "the tensor") -> str:
    """One sentence for an error message: what ``name`` is and which view suits it (callers prefix the file)."""
    kind = view_kind(shape)
    what = f"{name} is a {len(shape)}-D tensor {list(shape)}"
    return {
        "empty": f"{what} with no elements; there is nothing to draw",
        "scalar": f"{what} holding one value; 'inspector stats' prints it",
        "bars": f"{what} (bias/BatchNorm-like), not a conv weight; draw it as a bar plot",
        "heatmap": f"{what}, not a conv weight [out, in, kh, kw]; draw it as a heatmap",
        "filters": f"{what}, a conv weight",
    }[kind]
