"""From sniffed bytes to the object a torch file holds, through our own readers only (zip, legacy, tar).

This is the one place that picks a reader by format, for the file itself and for ``torch.save`` payloads
nested inside it (``torch.storage._load_from_bytes``). A TorchScript archive nested in a payload is refused:
its code would only run under ``torch.jit.load``, which needs trust.
"""

from __future__ import annotations

from typing import Any

from inspector.core.checkpoint.byte_source import ByteSource
from inspector.core.checkpoint.sniff import sniff_bytes
from inspector.core.checkpoint.torch_legacy import read_legacy_or_plain, read_legacy_tar
from inspector.core.checkpoint.torch_zip import read_torch_zip


def read_torch(source: ByteSource, kind: str, ctx) -> tuple[Any, str]:
    """(object, container) for a sniffed ``kind`` of zip, pickle or tar."""
    if kind == "zip":
        return read_torch_zip(source, ctx), "zip"
    if kind == "tar":
        return read_legacy_tar(source, ctx), "tar"
    obj, plain = read_legacy_or_plain(source, ctx)
    return obj, "pickle" if plain else "legacy"


def read_nested(data: bytes, ctx) -> Any:
    """A ``torch.save`` payload inside the file, by its own bytes."""
    kind = sniff_bytes(data[:4096]).kind
    if kind not in ("zip", "pickle", "tar"):
        ctx.corrupt("a nested payload that is not a torch file")
    obj, _ = read_torch(ByteSource(data), kind, ctx)
    return obj
