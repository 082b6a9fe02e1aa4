"""inspector: look inside PyTorch models.

``inspector.core`` holds all logic and never imports Qt; ``inspector.ui`` is a thin Qt view over it;
``inspector.cli`` exposes every capability headless (``python -m inspector <verb>``).
"""

__version__ = "0.1.0"
