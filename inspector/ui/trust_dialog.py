"""Ask before running a file's own code.

Loading with trust imports the classes and functions a pickle names (``checkpoint.globals_referenced``), and
importing or calling them can run anything. The dialog lists those globals, flags the ones the loader found
dangerous, and its default button is No, so Enter or Escape never trusts by accident.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)


def globals_lines(globals_referenced: Sequence[str], dangerous: Sequence[str] = ()) -> list[str]:
    """One line per global the file names, in plain words: dangerous ones first (listed even when the loader
    named only them), then what trust would import and run, then what inspector reads with its own code."""
    from inspector.core.checkpoint.allowlist import allowlist, is_dangerous

    safe = allowlist()
    names = list(dict.fromkeys([*dangerous, *globals_referenced]))
    flagged = [g for g in names if g in set(dangerous) or is_dangerous(g)]
    imported = [g for g in names if g not in flagged and g not in safe]
    read_safely = [g for g in names if g not in flagged and g in safe]
    return (
        [f"⚠ {g}  — can run commands or any code on this computer" for g in flagged]
        + [f"{g}  — imported from its package and run if you trust the file" for g in imported]
        + [f"{g}  — read by inspector itself, safe either way" for g in read_safely]
    )


class TrustDialog(QDialog):
    """Confirmation to load ``path`` with its code; ``exec()`` returns Accepted only for "Trust and reload"."""

    def __init__(
        self,
        path: str,
        globals_referenced: Sequence[str],
        dangerous: Sequence[str] = (),
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Trust this file?")
        name = os.path.basename(path) or path
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning).pixmap(32, 32))
        text = QLabel(
            f"<b>Load {name} with its own code?</b><br>"
            "Trusting lets the file import and run the classes and functions it references. "
            "Only trust files from people you trust; without trust only the weights are read."
        )
        text.setWordWrap(True)
        lines = globals_lines(globals_referenced, dangerous)
        listing = QPlainTextEdit()
        listing.setReadOnly(True)
        listing.setPlainText("\n".join(lines) if lines else "(the file references no globals)")
        self.globals_text = listing

        self.buttons = QDialogButtonBox()
        self.trust_button = QPushButton("Trust and reload")
        self.no_button = self.buttons.addButton(QDialogButtonBox.StandardButton.No)
        self.buttons.addButton(self.trust_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.trust_button.setAutoDefault(False)
        self.trust_button.setDefault(False)
        self.no_button.setAutoDefault(True)
        self.no_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(icon)
        layout.addWidget(text)
        layout.addWidget(QLabel(f"{name} references {len(lines)} globals:"))
        layout.addWidget(listing, 1)
        layout.addWidget(self.buttons)
        self.resize(560, 380)
        self.no_button.setFocus()

    @classmethod
    def ask(
        cls,
        parent: QWidget | None,
        path: str,
        globals_referenced: Sequence[str],
        dangerous: Sequence[str] = (),
    ) -> bool:
        """Show the dialog modally; True only when the user chose "Trust and reload"."""
        dialog = cls(path, globals_referenced, dangerous, parent)
        return dialog.exec() == QDialog.DialogCode.Accepted
