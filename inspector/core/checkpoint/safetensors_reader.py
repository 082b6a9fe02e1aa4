"""List a ``.safetensors`` file from its header alone, through the ``safetensors`` library's ``safe_open``.

The header gives every tensor's name, dtype and shape and the file's string metadata; tensors are read only
when a view asks for one (``safe_open`` memory-maps the file).
"""

from __future__ import annotations

from typing import Any

from inspector.core.checkpoint.model import TensorEntry

# safetensors dtype codes -> (torch dtype name, bytes per element)
DTYPES = {
    "F64": ("float64", 8), "F32": ("float32", 4), "F16": ("float16", 2), "BF16": ("bfloat16", 2),
    "I64": ("int64", 8), "I32": ("int32", 4), "I16": ("int16", 2), "I8": ("int8", 1),
    "U64": ("uint64", 8), "U32": ("uint32", 4), "U16": ("uint16", 2), "U8": ("uint8", 1),
    "BOOL": ("bool", 1), "F8_E4M3": ("float8_e4m3fn", 1), "F8_E5M2": ("float8_e5m2", 1),
    "C64": ("complex64", 8), "C128": ("complex128", 16),
}  # fmt: skip


def read_safetensors_header(path: str) -> tuple[list[TensorEntry], dict[str, Any]]:
    """Entries (group ``""``, kind ``tensor``) and the ``__metadata__`` strings of a safetensors file."""
    from safetensors import safe_open

    entries = []
    with safe_open(path, framework="pt") as f:
        metadata = dict(f.metadata() or {})
        for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
            view = f.get_slice(name)
            shape = tuple(int(s) for s in view.get_shape())
            code = view.get_dtype()
            dtype, itemsize = DTYPES.get(code, (code.lower(), 1))
            numel = 1
            for s in shape:
                numel *= s
            entries.append(
                TensorEntry(name=name, group="", shape=shape, dtype=dtype, numel=numel, nbytes=numel * itemsize,
                            kind="tensor", requires_grad=False)
            )  # fmt: skip
    return entries, metadata


def safetensors_tensor_source(path: str):
    """A function entry -> tensor that reads one tensor at a time from ``path``."""

    def read(entry: TensorEntry):
        from safetensors import safe_open

        with safe_open(path, framework="pt", device="cpu") as f:
            return f.get_tensor(entry.name)

    return read
