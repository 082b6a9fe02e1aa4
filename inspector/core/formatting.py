"""Numbers as people read them, shared by the CLI and the GUI so both say the same thing in the same units.

Sizes use binary units (KiB, MiB, GiB: memory and files are sized in powers of two), three significant digits;
element counts are either exact (``1,234,567``) or short (``24.4k``, decimal: they are counts, not sizes).
"""

from __future__ import annotations

_BINARY_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(n: int) -> str:
    """``512`` -> ``512 B``; ``2_048_000`` -> ``1.95 MiB``; ``4_915_200`` -> ``4.69 MiB``."""
    if abs(n) < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in _BINARY_UNITS:
        value /= 1024
        if abs(value) < 999.5 or unit == _BINARY_UNITS[-1]:
            return f"{_three_digits(value)} {unit}"
    raise AssertionError("unreachable")


def _three_digits(value: float) -> str:
    """Three significant digits without switching to exponent notation: 1.95, 19.5, 195."""
    if abs(value) < 9.995:
        return f"{value:.2f}"
    if abs(value) < 99.95:
        return f"{value:.1f}"
    return f"{value:.0f}"


def format_count(n: int) -> str:
    """``1234567`` -> ``1,234,567``: element counts read exactly, so no rounding."""
    return f"{n:,}"


def format_count_short(n: int) -> str:
    """``24_380`` -> ``24.4k``, ``11_689_512`` -> ``11.7M``: counts in a narrow column."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def format_shape(shape: tuple[int, ...]) -> str:
    """``(64, 3, 3, 3)`` -> ``64×3×3×3``; a 0-d tensor is ``scalar``."""
    return "×".join(str(d) for d in shape) if shape else "scalar"


def format_names(names, limit: int) -> str:
    """The first ``limit`` names, comma-separated, then how many more: ``a, b, c (+4 more)`` (messages that name
    tensors stay one readable line however many there are)."""
    names = list(names)
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def plural(count: int, noun: str, plural_noun: str = "", shown: str = "") -> str:
    """``plural(1, "buffer")`` -> ``1 buffer``, ``plural(3, "buffer")`` -> ``3 buffers``, ``plural(2, "shape
    mismatch", "shape mismatches")``; ``shown`` is the number as printed (``format_count_short``: ``1.2k``)
    when it is not ``str(count)``. Every count the CLI and the GUI print goes through this, so none reads
    "1 buffers"."""
    word = noun if count == 1 else (plural_noun or f"{noun}s")
    return f"{shown or count} {word}"
