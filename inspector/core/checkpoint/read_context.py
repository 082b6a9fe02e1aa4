"""What one load of one file carries down through its readers: the file's name, its limits, what it met.

Two files load at once (the main window and a compare window), so nothing a load learns may live in module
state: the globals record, the devices tensors were saved on, the bytes decompressed so far, the numpy objects
that BUILD may still fill in and the nesting level of ``torch.save`` inside ``torch.save`` all live here, and
nested loads share the counters of the load that started them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inspector.core.checkpoint.safe_unpickle import GlobalsRecord
from inspector.core.errors import InspectorError, UnsafeCheckpointError
from inspector.core.limits import Limits, MiB, setting


@dataclass
class LoadCounters:
    decompressed: int = 0
    nested: int = 0


class ReadContext:
    """One load's state (see module docstring); ``path`` names the file in every message."""

    def __init__(self, path: str, file_size: int = 0, limits: Limits | None = None, record=None,
                 devices: dict[int, str] | None = None, level: int = 0, counters: LoadCounters | None = None):  # fmt: skip
        self.path = path
        self.file_size = file_size
        self.limits = limits or Limits.from_env()
        self.record = record if record is not None else GlobalsRecord()
        self.devices = devices if devices is not None else {}
        self.level = level
        self.counters = counters or LoadCounters()
        self._fresh: dict[int, Any] = {}

    # -- numpy objects BUILD may fill in once ------------------------------------------------------------
    def fresh(self, obj: Any) -> Any:
        self._fresh[id(obj)] = obj
        return obj

    def take_fresh(self, obj: Any) -> bool:
        return self._fresh.pop(id(obj), None) is obj

    # -- budgets ------------------------------------------------------------------------------------------
    def decompressed_budget(self) -> int:
        return self.limits.decompressed_budget(self.file_size) - self.counters.decompressed

    def count_decompressed(self, nbytes: int) -> None:
        self.counters.decompressed += nbytes
        if self.counters.decompressed > self.limits.decompressed_budget(self.file_size):
            self.too_big_decompressed()

    def too_big_decompressed(self):
        limit = self.limits.decompressed_budget(self.file_size)
        raise InspectorError(
            f"{self.path}: refused: its compressed content expands beyond {limit // MiB:,} MiB (a file of "
            f"{self.file_size:,} bytes); decompress it yourself, or raise {setting('max_decompressed_mb')}"
        )

    def load_nested(self, data: bytes) -> Any:
        """``torch.save`` bytes inside the file (a pickled storage): the same safe readers, one level down."""
        if self.level + 1 > self.limits.max_nested_loads:
            self.refuse(f"torch.save payloads nested more than {self.limits.max_nested_loads} levels deep")
        self.counters.nested += 1
        if self.counters.nested > self.limits.max_nested_payloads:
            self.refuse(f"more than {self.limits.max_nested_payloads:,} nested torch.save payloads")
        from inspector.core.checkpoint.torch_readers import read_nested

        child = ReadContext(self.path, self.file_size, self.limits, self.record, self.devices, self.level + 1,
                            self.counters)  # fmt: skip
        return read_nested(data, child)

    # -- failures -----------------------------------------------------------------------------------------
    def refuse_dangerous(self) -> None:
        dangerous = self.record.dangerous
        if dangerous:
            raise UnsafeCheckpointError(
                f"{self.path}: refused: the file references globals that can run code ({', '.join(dangerous)}); "
                "nothing was executed; do not load it with torch.load",
                dangerous,
            )

    def refuse(self, why: str):
        raise InspectorError(
            f"{self.path}: refused: {why}; nothing was executed; do not load it with torch.load"
        )

    def corrupt(self, exc: BaseException | str):
        raise corrupt_error(self.path, exc)


def corrupt_error(path: str, exc: BaseException | str) -> InspectorError:
    """The one message for a file that cannot be read: truncated, corrupt or not a checkpoint."""
    reason = exc if isinstance(exc, str) else reason_of(exc)
    return InspectorError(
        f"{path}: cannot read it as a PyTorch checkpoint; it is truncated, corrupt or not a checkpoint "
        f"({reason}); re-download it or save it again"
    )


def reason_of(exc: BaseException) -> str:
    """An exception's first line, short enough for a one-line message."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
