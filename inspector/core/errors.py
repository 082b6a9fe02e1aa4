"""Errors the user sees: one line that names the file and what to do.

Core code raises :class:`InspectorError` for every expected failure (bad file, refused pickle, missing class);
the CLI prints ``error: <message>`` and exits non-zero, the GUI shows the message. Anything else is a bug.
"""


class InspectorError(Exception):
    """A failure with a one-line, user-facing message (name the file and the fix)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return self.args[0]


class UnsafeCheckpointError(InspectorError):
    """The file references globals that could run code (``os.system``, ``builtins.eval``...)."""

    def __init__(self, message: str, dangerous: list[str]):
        super().__init__(message)
        self.dangerous = list(dangerous)


class TrustRequiredError(InspectorError):
    """The action needs the file's own code (a real class, TorchScript): ask the user to trust it."""

    def __init__(self, message: str, globals_referenced: list[str]):
        super().__init__(message)
        self.globals_referenced = list(globals_referenced)


class OutOfDeviceMemoryError(InspectorError):
    """A forward pass or a training step ran out of memory on ``device`` (a string); the memory was released.
    The GUI offers "Retry on CPU" for it, the CLI's message names ``--device cpu``."""

    def __init__(self, message: str, device: str):
        super().__init__(message)
        self.device = device


class CancelledError(InspectorError):
    """A long job was stopped by the user between two progress records."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)


class InspectorWarning(UserWarning):
    """Warnings of our own; the test-suite turns them into errors."""
