"""Before fine-tuning, the base file's bytes are checked: a flipped byte inside a frozen layer would otherwise be
trained around, compared "bitwise unchanged" with itself and saved, certifying the corrupted layer.

The check is :func:`inspector.core.checkpoint.verify.iter_verify` (one CRC-32 pass over the zip records, ~0.3 s
per 512 MiB), run as the first stage of the fine-tune job so its progress shows. Formats without checksums
(safetensors, legacy files) are checked for what they carry; a file verify cannot read at all was opened by the
loader already, so it trains as before.
"""

from __future__ import annotations

from inspector.core.errors import Fix, InspectorError
from inspector.core.formatting import format_names
from inspector.core.jobs import Job, Progress

DAMAGED_FIX = Fix(
    cli="re-download or restore it (inspector verify FILE lists the damage), or pass --no-verify to train anyway",
    gui="re-download or restore it (File › Verify… lists the damage)",
)
NAMES_SHOWN = 6


def iter_check_base(path: str, steps: int = 0) -> Job[object]:
    """Verify ``path``; yields :class:`Progress` at step 0 of the run's ``steps`` (the share of bytes checked is
    in the message, so the run's bar and ETA stay in training steps); returns the report (None: not
    checkable). Raises :class:`InspectorError` naming the damaged tensors when a record fails its check."""
    from inspector.core.checkpoint.verify import iter_verify

    job = iter_verify(path)
    try:
        while True:
            try:
                record = next(job)
            except StopIteration as stop:
                report = stop.value
                break
            share = f" ({record.done / record.total:.0%})" if record.total else ""
            yield Progress(0, steps, f"checking the base file's records{share}")
    except InspectorError:
        return None  # the loader opened it; verify has nothing to add for this format
    finally:
        job.close()
    if report.damaged:
        raise damaged_error(path, report)
    return report


def damaged_error(path: str, report) -> InspectorError:
    names = report.damaged_tensors
    problems = ", ".join(sorted({d.problem for d in report.damaged}))
    if names:
        what = f"damaged tensors {format_names(names, NAMES_SHOWN)}"
    else:
        what = f"damaged records {', '.join(d.record for d in report.damaged[:NAMES_SHOWN])}"
    return InspectorError(f"{path}: {what} ({problems}); training on it would carry the damage into the new file",
                          DAMAGED_FIX)  # fmt: skip
