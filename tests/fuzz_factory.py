"""Mutations of valid checkpoints for the fuzz test (``tests/test_fuzz.py``) and its full run
(``scripts/fuzz_checkpoints.py``).

Seeds are small valid files of every form the loader opens (zip ``torch.save`` state dicts, a training
checkpoint dict, a pickled module, odd dtypes, legacy ``_use_new_zipfile_serialization=False`` files,
TorchScript, safetensors, a gzip wrapper, a plain pickle). Each case is one seed and one mutation, both chosen
by a ``random.Random`` seeded with the run's seed and the case number, so a case is rebuilt exactly from its
name. Mutations know the seed's layout: zip local headers, record data, the ``data.pkl`` record, the central
directory and the end record; a legacy file's pickles and storages; a safetensors header and data. Each
mutation flips bits, truncates at a boundary kind, rewrites a directory field with an edge value, replaces a
member with noise, or splices bytes in or out.

:func:`classify` turns one ``hostile_runner`` record into an outcome: ``opened``, ``error`` (one
``error: ...`` line), for ``verify`` also ``verified`` / ``damage found``; anything else is a failure.
"""

from __future__ import annotations

import json
import pathlib
import pickletools
import random
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import checkpoint_factory as cf
import torch

PASS_OUTCOMES = {"opened", "error", "verified", "damage found"}
EDGE_INTS = (0, 1, 2, 0x7F, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def _quantized_engine() -> bool:
    import quantized_factory as qf

    return qf.engine() is not None


def _legacy_training(folder) -> pathlib.Path:
    model = cf.tiny_net()
    opt = cf.one_adam_step(model)
    obj = {"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict(), "epoch": 3}
    return cf.write(folder, "legacy_train.pth", obj, _use_new_zipfile_serialization=False)


def _quantized(form: str) -> Callable[[pathlib.Path], pathlib.Path]:
    """A statically quantized conv net (packed conv and linear parameters) saved as ``form``."""

    def write(folder) -> pathlib.Path:
        import quantized_factory as qf

        sub = pathlib.Path(folder) / f"quantized_{form}"
        sub.mkdir(exist_ok=True)
        return qf.write_all(sub, qf.static_conv_net(), "q")[form]

    return write


SEEDS: dict[str, Callable[[pathlib.Path], pathlib.Path]] = {
    "zip_state_dict": cf.write_state_dict,
    "zip_training": cf.write_training_checkpoint,
    "zip_module": cf.write_pickled_module,
    "zip_dtypes": cf.write_dtypes,
    "legacy_state_dict": cf.write_legacy,
    "legacy_training": _legacy_training,
    "torchscript": cf.write_torchscript,
    "safetensors": cf.write_safetensors,
    "gzip": cf.write_gzip,
    "plain_pickle": cf.write_numpy_pickle,
}
if _quantized_engine():
    SEEDS["zip_quantized_module"] = _quantized("module")
    SEEDS["torchscript_quantized"] = _quantized("torchscript")


# -- layouts ------------------------------------------------------------------------------------------------
@dataclass
class ZipRecord:
    name: str
    header: int  # local header offset
    data: int  # data start
    end: int  # data end
    cd_entry: int  # offset of its central directory entry


@dataclass
class Layout:
    """Byte ranges a mutation can aim at; ``boundaries`` are offsets between two structures."""

    kind: str  # zip | legacy | safetensors | raw
    records: list[ZipRecord]
    regions: dict[str, list[tuple[int, int]]]
    boundaries: list[int]


def zip_layout(data: bytes) -> Layout:
    eocd = data.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack("<II", data[eocd + 12 : eocd + 20])
    records, pos = [], cd_offset
    while data[pos : pos + 4] == b"PK\x01\x02":
        csize = struct.unpack("<I", data[pos + 20 : pos + 24])[0]
        nlen, elen, clen = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        header = struct.unpack("<I", data[pos + 42 : pos + 46])[0]
        name = data[pos + 46 : pos + 46 + nlen].decode()
        lnlen, lelen = struct.unpack("<HH", data[header + 26 : header + 30])
        start = header + 30 + lnlen + lelen
        records.append(ZipRecord(name, header, start, start + csize, pos))
        pos += 46 + nlen + elen + clen
    regions = {
        "local_header": [(r.header, r.data) for r in records],
        "data": [(r.data, r.end) for r in records if "/data/" in r.name and r.end > r.data],
        "pickle": [(r.data, r.end) for r in records if r.name.endswith("data.pkl")],
        "central_directory": [(cd_offset, cd_offset + cd_size)],
        "end_record": [(eocd, len(data))],
    }
    bounds = sorted({b for r in records for b in (r.header, r.data, r.end)} | {cd_offset, eocd})
    return Layout("zip", records, regions, bounds)


def _pickle_ends(data: bytes, start: int, count: int) -> list[int]:
    ends, pos = [], start
    for _ in range(count):
        try:
            for op, _arg, at in pickletools.genops(data[pos:]):
                if op.name == "STOP":
                    pos += at + 1
                    break
        except (ValueError, IndexError, struct.error):
            break
        ends.append(pos)
    return ends


def legacy_layout(data: bytes) -> Layout:
    ends = _pickle_ends(data, 0, 5)  # magic, protocol, sys_info, main pickle, storage keys
    main = (ends[2], ends[3]) if len(ends) >= 4 else (0, len(data))
    storages = (ends[-1], len(data)) if len(ends) == 5 else (len(data), len(data))
    heads, pos = [], storages[0]
    while pos + 8 <= len(data) and len(heads) < 64:  # each storage: 8-byte count, then its bytes
        heads.append(pos)
        count = struct.unpack("<q", data[pos : pos + 8])[0]
        pos += 8 + max(count, 0) * 4  # float32 storages mostly; only boundaries, a miss is harmless
    regions = {"pickle": [main], "data": [storages] if storages[1] > storages[0] else [main]}
    return Layout("legacy", [], regions, sorted(set(ends) | set(heads) | {h + 8 for h in heads}))


def safetensors_layout(data: bytes) -> Layout:
    (n,) = struct.unpack("<Q", data[:8])
    regions = {"header": [(8, 8 + n)], "data": [(8 + n, len(data))], "length": [(0, 8)]}
    return Layout("safetensors", [], regions, [8, 8 + n])


def layout_of(form: str, data: bytes) -> Layout:
    if form.startswith(("zip", "torchscript")):
        return zip_layout(data)
    if form.startswith("legacy"):
        return legacy_layout(data)
    if form == "safetensors":
        return safetensors_layout(data)
    return Layout("raw", [], {"data": [(0, len(data))]}, [])


# -- mutations ----------------------------------------------------------------------------------------------
def _pick(rng: random.Random, layout: Layout, region: str, size: int) -> tuple[int, int]:
    spans = [s for s in layout.regions.get(region, []) if s[1] > s[0]] or [(0, size)]
    return rng.choice(spans)


def flip_bits(data: bytearray, rng, start: int, end: int, count: int | None = None) -> None:
    for _ in range(count or rng.randint(1, 8)):
        data[rng.randrange(start, end)] ^= 1 << rng.randrange(8)


def m_bitflip_anywhere(data, layout, rng, other):
    flip_bits(data, rng, 0, len(data))
    return data


def _flip_region(region: str):
    def mutate(data, layout, rng, other):
        start, end = _pick(rng, layout, region, len(data))
        flip_bits(data, rng, start, end, rng.choice((1, 1, 2, 8)))
        return data

    mutate.__name__ = f"m_flip_{region}"
    return mutate


def _truncate_region(region: str):
    def mutate(data, layout, rng, other):
        start, end = _pick(rng, layout, region, len(data))
        return data[: rng.randrange(start, max(end, start + 1))]

    mutate.__name__ = f"m_truncate_{region}"
    return mutate


def m_truncate_boundary(data, layout, rng, other):
    bounds = [b for b in layout.boundaries if 0 < b < len(data)] or [len(data) // 2]
    return data[: max(1, rng.choice(bounds) + rng.choice((-1, 0, 0, 1)))]


def m_truncate_anywhere(data, layout, rng, other):
    return data[: rng.randrange(1, len(data))]


def _set_field(data: bytearray, at: int, width: int, rng) -> None:
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[width]
    old = struct.unpack(fmt, data[at : at + width])[0]
    value = rng.choice((*EDGE_INTS, old + 1, max(old - 1, 0), old * 2, rng.getrandbits(8 * width)))
    data[at : at + width] = struct.pack(fmt, value % (1 << (8 * width)))


# central directory entry: (offset, width) of method, crc, sizes, name/extra/comment lengths, header offset
CD_FIELDS = ((10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (42, 4))
LOCAL_FIELDS = ((8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2))
EOCD_FIELDS = ((8, 2), (10, 2), (12, 4), (16, 4), (20, 2))


def m_cd_field(data, layout, rng, other):
    if not layout.records:
        return m_bitflip_anywhere(data, layout, rng, other)
    record = rng.choice(layout.records)
    at, width = rng.choice(CD_FIELDS)
    _set_field(data, record.cd_entry + at, width, rng)
    return data


def m_local_field(data, layout, rng, other):
    if not layout.records:
        return m_bitflip_anywhere(data, layout, rng, other)
    at, width = rng.choice(LOCAL_FIELDS)
    _set_field(data, rng.choice(layout.records).header + at, width, rng)
    return data


def m_cd_size_xor(data, layout, rng, other):
    """The low byte of one record's compressed or uncompressed size in the central directory XORed (a size that
    disagrees with the local header and data descriptor: torch refuses the file, zipfile reads on)."""
    if not layout.records:
        return m_bitflip_anywhere(data, layout, rng, other)
    record = rng.choice(layout.records)
    data[record.cd_entry + rng.choice((20, 24))] ^= rng.choice((1, 2, 0x80))
    return data


def m_cd_local_mismatch(data, layout, rng, other):
    """One field the central directory and the local header both hold (method, CRC-32, a size, the name)
    changed in one of them only."""
    if not layout.records:
        return m_bitflip_anywhere(data, layout, rng, other)
    record = rng.choice(layout.records)
    cd_at, local_at = rng.choice(((10, 8), (16, 14), (20, 18), (24, 22), (46, 30)))
    in_directory = rng.random() < 0.5
    data[record.cd_entry + cd_at if in_directory else record.header + local_at] ^= 0x01
    return data


def m_eocd_field(data, layout, rng, other):
    start, _ = _pick(rng, layout, "end_record", len(data))
    at, width = rng.choice(EOCD_FIELDS)
    if start + at + width <= len(data):
        _set_field(data, start + at, width, rng)
    return data


def m_member_noise(data, layout, rng, other):
    """A whole record's data replaced by random bytes (the zip itself stays well formed but for the CRC)."""
    spans = [(r.data, r.end) for r in layout.records if r.end > r.data] or [(0, len(data))]
    start, end = rng.choice(spans)
    data[start:end] = bytes(rng.getrandbits(8) for _ in range(end - start))
    return data


def m_header_length(data, layout, rng, other):
    """safetensors: the 8-byte header length set to an edge value."""
    _set_field(data, 0, 8, rng)
    return data


def m_insert(data, layout, rng, other):
    at = rng.randrange(len(data))
    return data[:at] + bytes(rng.getrandbits(8) for _ in range(rng.choice((1, 4, 64, 700)))) + data[at:]


def m_delete(data, layout, rng, other):
    at = rng.randrange(len(data))
    return data[:at] + data[at + rng.choice((1, 4, 64, 700)) :]


def m_duplicate(data, layout, rng, other):
    at = rng.randrange(len(data))
    chunk = data[at : at + rng.choice((4, 64, 512))]
    to = rng.randrange(len(data))
    return data[:to] + chunk + data[to:]


def m_splice_other(data, layout, rng, other):
    """A run of bytes from another seed file written over this one at the same place."""
    at = rng.randrange(len(data))
    n = rng.choice((8, 64, 512, 4096))
    data[at : at + n] = other[at : at + n] or bytes(n)
    return data


COMMON = [m_bitflip_anywhere, m_truncate_anywhere, m_truncate_boundary, m_insert, m_delete, m_duplicate,
          m_splice_other]  # fmt: skip
BY_KIND = {
    "zip": [_flip_region(r) for r in ("local_header", "data", "pickle", "central_directory", "end_record")]
    + [_truncate_region(r) for r in ("local_header", "data", "pickle", "central_directory", "end_record")]
    + [m_cd_field, m_cd_field, m_local_field, m_eocd_field, m_member_noise, m_cd_size_xor, m_cd_local_mismatch],
    "legacy": [_flip_region("pickle"), _flip_region("data"), _truncate_region("pickle"), _truncate_region("data")],
    "safetensors": [_flip_region("header"), _flip_region("data"), _truncate_region("header"),
                    _truncate_region("data"), m_header_length],
    "raw": [],
}  # fmt: skip


def mutations_for(kind: str) -> list:
    return BY_KIND[kind] + COMMON


# -- cases --------------------------------------------------------------------------------------------------
def write_seeds(folder: pathlib.Path) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    with warnings.catch_warnings():  # torch's deprecation of quantized tensors (zip_dtypes holds one)
        warnings.simplefilter("ignore")
        return {form: writer(folder).read_bytes() for form, writer in SEEDS.items()}


def make_case(index: int, seed: int, seeds: dict[str, bytes]) -> tuple[str, str, str, bytes]:
    """(case name, form, mutation, bytes) of case ``index`` of a run with ``seed``: seeds round-robin, the
    mutation and its targets from the case's own random stream."""
    forms = list(seeds)
    form = forms[index % len(forms)]
    rng = random.Random(seed * 1_000_003 + index)
    data = seeds[form]
    layout = layout_of(form, data)
    mutation = rng.choice(mutations_for(layout.kind))
    other = seeds[rng.choice([f for f in forms if f != form])]
    mutated = bytes(mutation(bytearray(data), layout, rng, other))
    name = mutation.__name__.removeprefix("m_")
    return f"{index:05d}-{form}-{name}", form, name, mutated


def build_cases(folder: pathlib.Path, count: int, seed: int = 0) -> list[dict]:
    """Write ``count`` cases into ``folder``; their records (case, path, form, mutation, unchanged)."""
    seeds = write_seeds(folder / "seeds")
    cases = []
    for index in range(count):
        name, form, mutation, data = make_case(index, seed, seeds)
        path = folder / f"{name}.bin"
        path.write_bytes(data)
        unchanged = data == seeds[form]
        cases.append(
            {"case": name, "path": str(path), "form": form, "mutation": mutation, "unchanged": unchanged}
        )
    return cases


# -- outcomes -----------------------------------------------------------------------------------------------
def classify(rec: dict, time_limit_s: float) -> str:
    """What one run did: a pass outcome (PASS_OUTCOMES) or what went wrong."""
    if rec["signal"] is not None:
        return "hang" if rec["signal_name"] in ("SIGALRM", "SIGKILL") else f"crash ({rec['signal_name']})"
    if rec["seconds"] >= time_limit_s:
        return "hang"
    if any(rec["new_files"].values()):
        return "side effects"
    code, lines = rec["exit_code"], rec["stderr_lines"]
    # a bug of ours: the CLI says "unexpected TYPE: ...; please report this" (exit 2); "unexpected end of data" is fine
    one_error = (
        rec["stderr_line_count"] == 1 and lines[0].startswith("error: ") and "please report" not in lines[0]
    )
    if code == (2 if rec["verb"] == "verify" else 1) and one_error:  # verify: 0 ok, 1 damage, 2 error
        return "error"
    if code in (0, 1) and rec["stderr_line_count"] == 0 and rec["stdout_is_strict_json"]:
        if rec["verb"] == "verify":
            return "verified" if code == 0 else "damage found"
        return "opened" if code == 0 else "bad output"
    if code == 2 or (lines and "please report" in lines[0]):
        return "crash (unexpected exception)"
    if code == 70:
        return "crash (traceback)"
    return "bad output"


RUNNER = pathlib.Path(__file__).resolve().parent / "hostile_runner.py"


def run_cases(
    folder: pathlib.Path,
    cases: list[dict],
    verbs=("list", "verify"),
    timeout: int = 20,
    jobs: int | None = None,
    runner_timeout: int = 3600,
) -> list[dict]:
    """Run every (case, verb) through ``hostile_runner.py`` (fenced forked children, each bounded by
    ``alarm(timeout)``); the report's records, each with its ``outcome``, form and mutation."""
    import subprocess
    import sys

    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps(cases, indent=1))
    report_path = folder / "report.json"
    command = [sys.executable, str(RUNNER), str(folder), str(report_path), "--verbs", ",".join(verbs),
               "--timeout", str(timeout), "--scratch", str(folder / "runs")] + (["--jobs", str(jobs)] if jobs else [])  # fmt: skip
    proc = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=runner_timeout)
    (folder / "runner.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not report_path.exists():
        raise RuntimeError(f"hostile_runner.py failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    records = json.loads(report_path.read_text())
    by_case = {c["case"]: c for c in cases}
    for rec in records:
        rec["outcome"] = classify(rec, timeout)
        rec.update({k: by_case[rec["case"]][k] for k in ("form", "mutation", "unchanged")})
    return records


def run_fuzz(
    folder: pathlib.Path,
    count: int,
    seed: int = 0,
    verbs=("list", "verify"),
    timeout: int = 20,
    jobs: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """Build ``count`` cases and run them all (see :func:`run_cases`): (cases, records)."""
    cases = build_cases(folder / "cases", count, seed)
    return cases, run_cases(folder / "run", cases, verbs, timeout, jobs)
