"""Fuzz: mutations of valid checkpoints of every form open or give the one-line error; none crashes or hangs.

A fixed-seed subset runs here (``CI_CASES`` cases through ``inspector list --json``, every ``VERIFY_EVERY``-th
also through ``inspector verify --json``); ``scripts/fuzz_checkpoints.py`` is the full run. Every run is a
fenced forked child of ``tests/hostile_runner.py`` (``alarm`` per load, address space capped, its own
cwd/TMPDIR/HOME, so a file that ran code or wrote anything is caught). Cases and mutations:
``tests/fuzz_factory.py``. The regression tests at the end are the loader bugs the fuzzer found.
"""

from __future__ import annotations

import collections
import faulthandler
import gzip
import random
import struct
import warnings
import zipfile
import zlib

import checkpoint_factory as cf
import fuzz_factory as ff
import pytest

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.checkpoint.verify import verify_checkpoint
from inspector.core.errors import InspectorError

CI_CASES = 300
CI_SEED = 0
VERIFY_EVERY = 10
TIME_LIMIT_S = 20


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    faulthandler.cancel_dump_traceback_later()  # one long setup, expected
    root = tmp_path_factory.mktemp("fuzz")
    cases = ff.build_cases(root / "cases", CI_CASES, CI_SEED)
    listed = ff.run_cases(root / "list", cases, ("list",), TIME_LIMIT_S, runner_timeout=600)
    verified = ff.run_cases(
        root / "verify", cases[::VERIFY_EVERY], ("verify",), TIME_LIMIT_S, runner_timeout=600
    )
    return cases, listed + verified


def _failures(records) -> str:
    bad = [r for r in records if r["outcome"] not in ff.PASS_OUTCOMES]
    return "\n".join(
        f"{r['case']} {r['verb']}: {r['outcome']}: {(r['stderr_lines'] or [''])[0][:300]} ({r['run_dir']})"
        for r in bad
    )


def test_cases_cover_every_form_and_mutation(fuzz):
    cases, _ = fuzz
    assert len(cases) == CI_CASES
    forms = collections.Counter(c["form"] for c in cases)
    assert set(forms) == set(ff.SEEDS) and min(forms.values()) >= CI_CASES // len(ff.SEEDS)
    zip_mutations = {c["mutation"] for c in cases if c["form"].startswith("zip")}
    for kind in ("truncate_local_header", "truncate_data", "truncate_central_directory", "truncate_end_record",
                 "flip_central_directory", "cd_field", "member_noise", "insert", "splice_other"):  # fmt: skip
        assert kind in zip_mutations
    assert sum(c["unchanged"] for c in cases) < CI_CASES // 10  # nearly every case really differs


def test_every_mutation_opens_or_gives_the_one_line_error(fuzz):
    _, records = fuzz
    listed = [r for r in records if r["verb"] == "list"]
    assert len(listed) == CI_CASES
    assert not _failures(listed), _failures(listed)
    outcomes = collections.Counter(r["outcome"] for r in listed)
    assert outcomes["opened"] > 0 and outcomes["error"] > 0


def test_verify_reports_or_gives_the_one_line_error(fuzz):
    _, records = fuzz
    verified = [r for r in records if r["verb"] == "verify"]
    assert len(verified) == CI_CASES // VERIFY_EVERY
    assert not _failures(verified), _failures(verified)
    assert collections.Counter(r["outcome"] for r in verified)["damage found"] > 0


def test_verify_never_passes_what_list_refuses(fuzz):
    """verify ok implies the file opens; and a zip that lists but verify flags is the silent damage it finds."""
    _, records = fuzz
    by_case = collections.defaultdict(dict)
    for r in records:
        by_case[r["case"]][r["verb"]] = r["outcome"]
    both = {case: v for case, v in by_case.items() if len(v) == 2}
    assert len(both) == CI_CASES // VERIFY_EVERY
    assert not [case for case, v in both.items() if v == {"list": "error", "verify": "verified"}]


def test_no_run_is_slow(fuzz):
    _, records = fuzz
    slow = [(r["case"], r["verb"], r["seconds"]) for r in records if r["seconds"] > TIME_LIMIT_S / 2]
    assert not slow


@pytest.mark.parametrize("form", [f for f in ff.SEEDS if f.startswith(("zip", "torchscript"))])
def test_verify_finds_every_bit_flip_in_zip_record_data(tmp_path, form):
    """A flipped bit inside a record's data lists silently; verify must name it (the CRC-32 catches it)."""
    seed = ff.SEEDS[form](tmp_path).read_bytes()
    layout = ff.zip_layout(seed)
    rng = random.Random(form)
    for trial in range(6):
        record = rng.choice([r for r in layout.records if r.end > r.data])
        data = bytearray(seed)
        data[rng.randrange(record.data, record.end)] ^= 1 << rng.randrange(8)
        path = tmp_path / f"flip{trial}.pth"
        path.write_bytes(bytes(data))
        report = verify_checkpoint(path)
        assert [d.record for d in report.damaged if d.problem == "crc mismatch"] == [record.name], trial


# -- regressions: loader bugs the fuzzer found ------------------------------------------------------------
def _assert_one_line_error(path) -> str:
    with pytest.raises(InspectorError) as caught:
        load_checkpoint(path)
    assert "\n" not in caught.value.message and caught.value.message.startswith(f"{path}: ")
    return caught.value.message


def test_gzip_with_a_corrupt_deflate_stream(tmp_path):
    """zlib.error (not OSError) out of gzip: was an 'unexpected error' (fuzz case 00038-gzip-duplicate)."""
    packed = gzip.compress(cf.write_state_dict(tmp_path).read_bytes())
    for at in range(20, len(packed) - 8):
        data = bytearray(packed)
        data[at] ^= 0xFF
        try:
            gzip.decompress(bytes(data))
        except zlib.error:
            break
        except (OSError, EOFError):
            continue
    else:
        pytest.fail("no byte flip gives a zlib.error")
    path = tmp_path / "corrupt.pth.gz"
    path.write_bytes(bytes(data))
    assert "gzip data is truncated or corrupt" in _assert_one_line_error(path)
    with pytest.raises(InspectorError):
        verify_checkpoint(path)


def _set_method(data: bytearray, method: int, suffix: str) -> None:
    """Mark the record whose name ends with ``suffix`` as compressed with ``method`` (local and central)."""
    layout = ff.zip_layout(bytes(data))
    record = next(r for r in layout.records if r.name.endswith(suffix))
    data[record.header + 8 : record.header + 10] = struct.pack("<H", method)
    data[record.cd_entry + 10 : record.cd_entry + 12] = struct.pack("<H", method)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA])
def test_stored_pickle_marked_as_compressed(tmp_path, method):
    """A stored data.pkl whose method says deflate/LZMA: zlib.error / LZMAError was uncaught in TorchZip.read."""
    data = bytearray(cf.write_state_dict(tmp_path).read_bytes())
    _set_method(data, method, "data.pkl")
    path = tmp_path / "method.pth"
    path.write_bytes(bytes(data))
    assert "cannot read it as a PyTorch checkpoint" in _assert_one_line_error(path)
    report = verify_checkpoint(path)
    assert not report.ok and report.damaged[0].record.endswith("data.pkl")


def test_zip_wrapper_member_marked_as_deflated(tmp_path):
    """A checkpoint alone in a zip wrapper whose stored member says deflate: zlib.error out of the unwrap."""
    inner = cf.write_legacy(tmp_path).read_bytes()  # not a torch zip, so the outer zip is a wrapper
    wrapper = tmp_path / "release.zip"
    with zipfile.ZipFile(wrapper, "w", zipfile.ZIP_STORED) as z:
        z.writestr("model.pth", inner)
    data = bytearray(wrapper.read_bytes())
    _set_method(data, zipfile.ZIP_DEFLATED, "model.pth")
    wrapper.write_bytes(bytes(data))
    assert "archive is truncated or corrupt" in _assert_one_line_error(wrapper)


def test_zip_wrapper_written_by_python_zipfile_opens(tmp_path):
    """ZipFile.writestr gives a member mode 0o600 with no file-type bits: it was refused as 'a link'."""
    inner = cf.write_legacy(tmp_path).read_bytes()
    wrapper = tmp_path / "release.zip"
    with zipfile.ZipFile(wrapper, "w", zipfile.ZIP_STORED) as z:
        z.writestr("model.pth", inner)
    assert z.getinfo("model.pth").external_attr >> 16 == 0o600
    assert len(load_checkpoint(wrapper, resolve=False).entries) == 9
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as z:
        info = zipfile.ZipInfo("model.pth")
        info.external_attr = 0o120777 << 16  # a symbolic link stays refused
        z.writestr(info, inner)
    assert "is a link" in _assert_one_line_error(link)


def test_zip_member_with_an_empty_name(tmp_path):
    """A member whose name is empty (fuzz case 02914-zip_quantized_module-splice_other): ZipInfo.is_dir() raised
    IndexError in the wrapper check (list) and in verify."""
    wrapper = tmp_path / "release.zip"
    with zipfile.ZipFile(wrapper, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo(""), b"x")
        z.writestr("model.pth", cf.write_legacy(tmp_path).read_bytes())
        z.writestr("notes.txt", b"x")
    assert len(load_checkpoint(wrapper, resolve=False).entries) == 9  # the one .pth member is chosen
    try:
        report = verify_checkpoint(wrapper)
    except InspectorError as exc:
        assert "\n" not in exc.message and "unexpected" not in exc.message
    else:
        assert report is not None


def test_legacy_persistent_id_holding_a_storage(tmp_path):
    """A persistent id whose kind is a storage (fuzz case 00944-legacy_state_dict-flip_pickle): ``str()`` of it
    put pages of text (and torch's TypedStorage warning on verify's stderr) into the one-line message."""
    import hostile_factory as hf

    good = hf.rebuild_tensor(hf.legacy_storage("0", 3), (3,), (1,))
    odd = hf.persid((hf.legacy_storage("0", 3), "x"))
    path = tmp_path / "odd_pid.pth"
    path.write_bytes(hf.legacy_bytes({"w": good, "odd": odd}, [("0", "FloatStorage", 3, hf.floats(1, 2, 3))]))
    message = _assert_one_line_error(path)
    assert (
        "a persistent id with a TypedStorage where text belongs" in message and "device=meta" not in message
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # verify keeps torch's warnings off the user's terminal
        report = verify_checkpoint(path)
    assert [d.record for d in report.damaged] == ["pickle"] and len(report.damaged[0].detail) < 300
