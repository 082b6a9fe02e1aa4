"""Budgets for every piece of work whose size a file's bytes decide.

A hostile file can declare a 10^12-element tensor over 4 bytes, expand 20 kB of gzip into 4 GB, nest a list a
million levels deep or name a million objects. Each reader checks what the bytes declare against these numbers
*before* doing the work and refuses past them with a one-line message that names the setting, so a user who
really has such a file can raise it. Every figure can be set from the environment (``INSPECTOR_<FIELD>``, in the
field's unit), which is how the CLI, the GUI and the tests share one setting.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, fields

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one open of one file may cost."""

    # decompressed bytes (gzip/bz2/xz wrappers, zip/tar members, deflated records): the larger of this floor and
    # ``decompress_ratio`` times the file's size, never more than ``max_decompressed_mb``
    min_decompressed_mb: int = 256
    decompress_ratio: int = 8
    max_decompressed_mb: int = 4096
    max_pickle_mb: int = 512  # one pickle stream (data.pkl, a plain pickle)
    max_pickle_ops: int = 2_000_000  # opcodes in one pickle stream
    max_pickle_depth: int = 1000  # containment depth of the objects a pickle builds
    max_nested_loads: int = 2  # torch.save inside torch.save (pickled storages), levels
    max_nested_payloads: int = 10_000  # such nested loads in one file
    max_entries: int = 200_000  # tensors listed
    max_walk_nodes: int = 2_000_000  # containers visited while listing
    max_code_mb: int = 64  # TorchScript source read to find parameter declarations
    # elements one view may read (stats, histogram, picture, diff); a view over fewer stored elements than it
    # shows (stride 0, expand) may read at most ``max_overlap_ratio`` times the stored ones
    max_view_elements: int = 4_000_000_000
    max_overlap_ratio: int = 64

    @classmethod
    def from_env(cls) -> Limits:
        """Defaults, overridden by ``INSPECTOR_<FIELD>`` variables (integers)."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"INSPECTOR_{f.name.upper()}")
            if raw:
                with contextlib.suppress(ValueError):
                    values[f.name] = int(raw)
        return cls(**values)

    def decompressed_budget(self, file_size: int) -> int:
        """Bytes a file of ``file_size`` bytes may expand to."""
        floor = self.min_decompressed_mb * MiB
        return min(max(floor, self.decompress_ratio * file_size), self.max_decompressed_mb * MiB)


def setting(name: str) -> str:
    """How a user raises one limit, for messages: ``INSPECTOR_MAX_PICKLE_OPS``."""
    return f"INSPECTOR_{name.upper()}"
