"""The recently opened files, kept in ``QSettings`` so they survive restarts.

The settings object is passed in: the app uses the default ``QSettings()`` (organisation and application
set by :func:`inspector.ui.app.main`), tests pass one backed by a file in a temporary folder.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, QSettings, Signal

MAX_RECENT = 10
SETTINGS_KEY = "recentFiles"


class RecentFiles(QObject):
    """Most recent first, without duplicates, at most :data:`MAX_RECENT`.

    Signals:
        changed(): the list changed (rebuild the menu).
    """

    changed = Signal()

    def __init__(self, settings: QSettings | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._settings = settings if settings is not None else QSettings()

    def paths(self) -> list[str]:
        value = self._settings.value(SETTINGS_KEY, [])
        if isinstance(value, str):  # an INI file gives back a one-item list as a plain string
            value = [value]
        return [str(p) for p in value or [] if p]

    def add(self, path: str) -> None:
        path = os.path.abspath(path)
        self._store([path, *(p for p in self.paths() if p != path)])

    def remove(self, path: str) -> None:
        path = os.path.abspath(path)
        self._store([p for p in self.paths() if p != path])

    def clear(self) -> None:
        self._store([])

    def _store(self, paths: list[str]) -> None:
        paths = paths[:MAX_RECENT]
        if paths == self.paths():
            return
        if paths:
            self._settings.setValue(SETTINGS_KEY, paths)
        else:
            self._settings.remove(SETTINGS_KEY)
        self._settings.sync()
        self.changed.emit()
