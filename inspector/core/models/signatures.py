"""The table of architecture signatures (``signatures.json.gz``), read without importing torch or torchvision.

Each entry says what an architecture's state dict looks like: a digest of its sorted ``(key, shape)`` list with
the classifier's width written as ``N``, where that width sits, which keys are buffers, the module classes and
the input size. ``scripts/gen_architecture_signatures.py`` writes it from the real classes; the matcher in
:mod:`inspector.core.models.architectures` only reads it, so recognising a file costs a JSON parse instead of
an import of ``torchvision.models`` (~2 s).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

OUT_PATH = Path(__file__).with_name("signatures.json.gz")  # 1.4 MB of JSON, 90 KB gzipped
WIDTH = "N"  # how a num_classes dimension is written in a digest


def shape_digest(shapes: dict[str, tuple[int, ...]], width_at) -> str:
    """SHA-256 of the sorted ``key:shape`` lines, the dims listed in ``width_at`` (``[key, dim]`` pairs) as N."""
    marked = {(key, dim) for key, dim in width_at}
    lines = sorted(
        f"{key}:{'x'.join(WIDTH if (key, d) in marked else str(n) for d, n in enumerate(shape))}"
        for key, shape in shapes.items()
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@dataclass(frozen=True)
class Signature:
    """One architecture's entry; ``modules`` maps module path ("" the root) to its class's full name."""

    name: str
    builder: str
    input_size: tuple[int, ...]
    num_keys: int
    num_classes: int | None
    num_classes_at: tuple[tuple[str, int], ...]
    digest: str
    buffers: frozenset[str]
    modules: dict[str, str]

    @property
    def classifier(self) -> str | None:
        """The weight whose dimension is ``num_classes`` (the first listed)."""
        return self.num_classes_at[0][0] if self.num_classes_at else None

    def width_of(self, shapes: dict[str, tuple[int, ...]]) -> int | None:
        """The file's ``num_classes``: the same number at every width position, else None (no match)."""
        widths = set()
        for key, dim in self.num_classes_at:
            shape = shapes.get(key)
            if shape is None or len(shape) <= dim:
                return None
            widths.add(shape[dim])
        return widths.pop() if len(widths) == 1 else None

    def build(self, num_classes: int | None = None):
        """The real module (on the current default device). Only here is torchvision imported: when a module
        must run (features, summary, fine-tuning), never to recognise one."""
        import importlib

        module_name, _, attr = self.builder.partition(":")
        factory = getattr(importlib.import_module(module_name), attr)
        return factory(num_classes=num_classes) if num_classes is not None else factory()

    def matches(self, shapes: dict[str, tuple[int, ...]]) -> bool:
        """Exactly these keys and shapes, whatever the classifier's width."""
        if len(shapes) != self.num_keys or (self.num_classes_at and self.width_of(shapes) is None):
            return False
        return shape_digest(shapes, self.num_classes_at) == self.digest


@functools.cache
def load_signatures() -> dict[str, Signature]:
    """name -> signature, in the table's order (our demo model first, then torchvision's). Read once."""
    table = read_table()
    classes = table["classes"]
    return {
        name: Signature(
            name=name,
            builder=e["builder"],
            input_size=tuple(e["input_size"]),
            num_keys=e["num_keys"],
            num_classes=e["num_classes"],
            num_classes_at=tuple((key, dim) for key, dim in e["num_classes_at"]),
            digest=e["digest"],
            buffers=frozenset(e["buffers"]),
            modules={path: classes[i] for path, i in e["modules"].items()},
        )
        for name, e in table["architectures"].items()
    }


def table_versions() -> tuple[str, str]:
    """The torch and torchvision versions the table was generated with."""
    table = read_table()
    return table["torch"], table["torchvision"]


def read_table(path: Path = OUT_PATH) -> dict:
    """The raw table as the generator wrote it."""
    return json.loads(gzip.decompress(path.read_bytes()))


def write_table(table: dict, path: Path = OUT_PATH) -> None:
    """Gzipped compact JSON, with mtime 0 so that regenerating an unchanged table leaves the bytes unchanged."""
    path.write_bytes(gzip.compress(json.dumps(table, separators=(",", ":")).encode(), mtime=0))
