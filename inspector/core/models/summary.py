"""A model summary: torchsummary's layer table when the model can run, else the module tree from the file.

torchsummary needs a forward pass, so it needs a runnable module (``inspector.core.models.resolve``): a resolved
architecture, or the file's own module on trust. Without one the summary is still useful: the module tree
(from a pickled module's stubs, a TorchScript archive or the entry names) with each module's class and
parameter count, computed from the entries alone, nothing run.
"""

from __future__ import annotations

import contextlib
import io

from inspector.core.checkpoint.model import Checkpoint
from inspector.core.errors import InspectorError
from inspector.core.jobs import Job, Progress, run_job


def module_rows(ckpt: Checkpoint) -> list[tuple[str, str, int, int]]:
    """``(module path, class, own parameter count, parameter count with children)`` in file order."""
    group = ckpt.model_group or ""
    entries = ckpt.model_entries()
    own: dict[str, int] = {}
    order: list[str] = [""]
    for e in entries:
        parts = e.module.split(".") if e.module else []
        for i in range(1, len(parts) + 1):
            path = ".".join(parts[:i])
            if path not in own:
                own[path] = 0
                order.append(path)
        if e.kind != "buffer" and e.attr not in ("running_mean", "running_var", "num_batches_tracked"):
            own[e.module] = own.get(e.module, 0) + e.numel
    rows = []
    for path in order:
        key = f"{group}/{path}" if group and path else (group or path)
        cls = ckpt.module_classes.get(key, "").rpartition(".")[2]
        total = sum(n for p, n in own.items() if p == path or not path or p.startswith(path + "."))
        rows.append((path or "(model)", cls, own.get(path, 0), total))
    return rows


def structure_text(ckpt: Checkpoint) -> str:
    rows = [("module", "class", "own params", "total params")]
    rows += [(p, c or "-", f"{o:,}", f"{t:,}") for p, c, o, t in module_rows(ckpt)]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for r in rows:
        depth = 0 if r[0] in ("module", "(model)") else r[0].count(".") + 1
        name = ("  " * depth + r[0].rpartition(".")[2]) if depth else r[0]
        lines.append(
            f"{name.ljust(widths[0] + 8)}  {r[1].ljust(widths[1])}  {r[2].rjust(widths[2])}  {r[3].rjust(widths[3])}"
        )
    return "\n".join(lines)


def iter_model_summary(ckpt: Checkpoint) -> Job[str]:
    """torchsummary's table when the model can run on CPU, else the module tree with a note saying why."""
    from inspector.core.models.resolve import build_module

    yield Progress(0, 2, "building the model")
    try:
        resolved = build_module(ckpt)
    except InspectorError as exc:
        return f"{structure_text(ckpt)}\n\nNo layer-by-layer summary: {exc.message}"
    if resolved.input_size is None:
        return f"{structure_text(ckpt)}\n\nNo layer-by-layer summary: the input size is unknown."
    yield Progress(1, 2, "running torchsummary")
    text = torchsummary_text(resolved.module, resolved.input_size)
    if text is None:
        return f"{structure_text(ckpt)}\n\nNo layer-by-layer summary: a forward pass with {resolved.input_size} failed."
    header = f"architecture: {ckpt.architecture}" if ckpt.architecture else f"module: {resolved.source}"
    return f"{header}, input {tuple(resolved.input_size)}\n{text}"


def torchsummary_text(module, input_size) -> str | None:
    """torchsummary's printed table as a string (None when the forward pass fails)."""
    import torch
    from torchsummary import summary

    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), torch.no_grad():
            summary(module, tuple(input_size), device="cpu")
    except Exception:  # any model's forward can raise anything; the caller falls back to the tree
        return None
    return out.getvalue().rstrip()


def model_summary(ckpt: Checkpoint) -> str:
    return run_job(iter_model_summary(ckpt))
