"""The Qt face of inspector: thin widgets over :mod:`inspector.core`.

Nothing here computes what it shows: widgets ask core jobs for data and run them through
:class:`inspector.ui.worker.JobWorker`, so the window stays responsive. No module in this package imports
torch at import time; the window paints before torch is loaded (the first job loads it on its thread).

PySide6 6.12.0 drops a reference to ``None`` on every void call under Python 3.11 and aborts after a few
thousand calls; ``pyproject.toml`` excludes that release (``tests/test_ui_app.py`` guards it).
"""
