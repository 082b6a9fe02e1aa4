"""Qt-free logic: loading, listing, stats, rendering, diffing.

Nothing here imports PySide6 or pyqtgraph, so it runs headless (CLI, CI, the GPU box). torch is imported
inside the functions that need it, so that importing this package stays cheap.
"""
