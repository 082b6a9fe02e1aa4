"""Errors the user sees: one line that names the file and what to do.

Core code raises :class:`InspectorError` for every expected failure (bad file, refused pickle, missing class);
the CLI prints ``error: <message>`` and exits non-zero, the GUI shows the message. Anything else is a bug.

What to do differs by where the message is read: the command line names flags (``--trust``), the window names
its controls (File › Trust and reload…). A raise site that gives advice passes a :class:`Fix` (both wordings,
written once, next to the raise); :attr:`InspectorError.message` is the command line's text and
:attr:`InspectorError.gui_message` the window's, so neither face keeps a table of the other's messages.
"""

from __future__ import annotations

from dataclasses import dataclass


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@dataclass(frozen=True)
class Fix:
    """The advice at the end of a message, for the command line (flags) and for the window (controls)."""

    cli: str
    gui: str


class InspectorError(Exception):
    """A failure with a one-line, user-facing message (name the file and the fix).

    ``fix``: the advice, appended after "; " in the wording of the face that shows it. ``subject``: what the
    message is about when that is a flag or a control (``--freeze pattern`` / ``Freeze pattern``), put first."""

    def __init__(self, message: str, fix: Fix | None = None, *, subject: Fix | None = None):
        what = _one_line(message)
        cli = f"{subject.cli} {what}" if subject else what
        gui = f"{subject.gui} {what}" if subject else what
        super().__init__(f"{cli}; {_one_line(fix.cli)}" if fix else cli)
        self._gui = f"{gui}; {_one_line(fix.gui)}" if fix else (gui if subject else None)

    @property
    def message(self) -> str:
        """The message in the command line's words."""
        return self.args[0]

    @property
    def gui_message(self) -> str:
        """The same message in the window's words (its menus and buttons instead of flags)."""
        return self._gui or self.args[0]


class UnsafeCheckpointError(InspectorError):
    """The file references globals that could run code (``os.system``, ``builtins.eval``...)."""

    def __init__(self, message: str, dangerous: list[str]):
        super().__init__(message)
        self.dangerous = list(dangerous)


class TrustRequiredError(InspectorError):
    """The action needs the file's own code (a real class, TorchScript): ask the user to trust it."""

    def __init__(self, message: str, globals_referenced: list[str], fix: Fix | None = None):
        super().__init__(message, fix)
        self.globals_referenced = list(globals_referenced)


class OutOfDeviceMemoryError(InspectorError):
    """A forward pass or a training step ran out of memory on ``device`` (a string); the memory was released.
    The GUI offers "Retry on CPU" for it, the CLI's message names ``--device cpu``."""

    def __init__(self, message: str, device: str, fix: Fix | None = None):
        super().__init__(message, fix)
        self.device = device


class CancelledError(InspectorError):
    """A long job was stopped by the user between two progress records."""

    def __init__(self, message: str = "cancelled"):
        super().__init__(message)


class InspectorWarning(UserWarning):
    """Warnings of our own; the test-suite turns them into errors."""
