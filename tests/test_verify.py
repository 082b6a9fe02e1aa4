"""``inspector verify``: damaged records named by the tensors that use them; good files pass.

A flipped byte inside a tensor's data lists and loads without complaint (memory-mapped, never checked); verify
finds it through the record's CRC-32. A storage record shorter than its tensors need, a truncated legacy file and
a safetensors tensor past the end of the file are out of bounds.
"""

from __future__ import annotations

import json
import struct
import zipfile

import checkpoint_factory as cf
import pytest
import torch

from inspector.cli import main
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.checkpoint.verify import iter_verify, verify_checkpoint
from inspector.core.errors import InspectorError
from inspector.core.jobs import run_job


def record_of(path, tensor: torch.Tensor) -> zipfile.ZipInfo:
    """The zip record holding ``tensor``'s bytes (found by content, not by torch's numbering)."""
    raw = tensor.contiguous().numpy().tobytes()
    with zipfile.ZipFile(path) as z:
        return next(i for i in z.infolist() if "/data/" in i.filename and z.read(i) == raw)


def data_offset(path, info: zipfile.ZipInfo) -> int:
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def flip_byte(path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x40
    path.write_bytes(bytes(data))


def rewrite_zip(src, dst, replace: dict[str, bytes]) -> None:
    """A copy of a torch zip with some records' contents replaced (CRCs recomputed: a consistent zip)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info, replace.get(info.filename, zin.read(info)))


def test_good_files_pass(tmp_path):
    paths = [cf.write_state_dict(tmp_path), cf.write_training_checkpoint(tmp_path)]
    legacy = tmp_path / "legacy.pth"
    torch.save(cf.tiny_net().state_dict(), legacy, _use_new_zipfile_serialization=False)
    for path in [*paths, legacy]:
        report = verify_checkpoint(path)
        assert report.ok, report.to_json()
        assert report.tensors_checked == len(load_checkpoint(path, resolve=False).entries)
    train = verify_checkpoint(paths[1])
    assert train.records_checked >= 27 and train.tensors_checked == 27
    assert verify_checkpoint(legacy).unchecked  # says what a legacy file cannot be checked for


def test_flipped_byte_in_tensor_data_named_by_tensor(tmp_path, capsys):
    path = cf.write_state_dict(tmp_path)
    weight = cf.tiny_net().state_dict()["fc.weight"]
    info = record_of(path, weight)
    flip_byte(path, data_offset(path, info) + 5)
    loaded = load_checkpoint(path, resolve=False)  # today: lists and loads with a silently wrong value
    assert not torch.equal(loaded.tensor(loaded.entry("fc.weight")), weight)
    report = verify_checkpoint(path)
    assert not report.ok
    assert [(d.record, d.problem, d.tensors) for d in report.damaged] == [
        (info.filename, "crc mismatch", ["fc.weight"])
    ]
    assert main(["verify", "--json", str(path)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and out["damaged"][0]["tensors"] == ["fc.weight"]
    assert out["damaged"][0]["problem"] == "crc mismatch" and out["records_checked"] == 15
    assert main(["verify", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "fc.weight" in lines[0] and "CRC-32 mismatch" in lines[0]
    assert "1 damaged record" in lines[1]


def test_damage_lines_read_for_a_person(tmp_path, capsys):
    """What broke, for which tensor(s), and what to do; JSON keys kept, the CRC-32s added."""
    path = cf.write_state_dict(tmp_path)
    info = record_of(path, cf.tiny_net().state_dict()["fc.weight"])
    flip_byte(path, data_offset(path, info) + 5)
    with zipfile.ZipFile(path) as z:
        z.open(info)._expected_crc  # noqa: B018 (zipfile still has the field verify relies on)
    import zlib

    with open(path, "rb") as f:
        f.seek(data_offset(path, info))
        computed = zlib.crc32(f.read(info.file_size))
    assert main(["verify", str(path)]) == 1
    first, last = capsys.readouterr().out.splitlines()
    assert first == (
        f"{info.filename} (tensor fc.weight): CRC-32 mismatch (stored {info.CRC:08x}, computed {computed:08x}): "
        "the bytes changed after the file was written"
    )
    assert last.endswith(
        "; the values of these tensors are wrong: re-download the file or restore it from a copy"
    )
    assert main(["verify", "--json", str(path)]) == 1
    (damaged,) = (out := json.loads(capsys.readouterr().out))["damaged"]
    assert set(damaged) >= {"record", "tensors", "problem", "detail"} and damaged["problem"] == "crc mismatch"
    assert (damaged["stored_crc"], damaged["computed_crc"]) == (f"{info.CRC:08x}", f"{computed:08x}")
    assert out["advice"].startswith("the values of these tensors are wrong")
    base = torch.arange(12, dtype=torch.float32)
    shared = tmp_path / "shared.pth"
    torch.save({"a": base[:6], "b": base[6:]}, shared)
    flip_byte(shared, data_offset(shared, record_of(shared, base)) + 40)
    assert "(tensors a, b): CRC-32 mismatch" in verify_checkpoint(shared).damaged[0].line()


def test_shared_storage_names_every_tensor(tmp_path):
    base = torch.arange(12, dtype=torch.float32)
    path = tmp_path / "shared.pth"
    torch.save({"a": base[:6], "b": base[6:].view(2, 3), "c": torch.ones(2)}, path)
    info = record_of(path, base)
    flip_byte(path, data_offset(path, info) + 40)
    (damaged,) = verify_checkpoint(path).damaged
    assert damaged.tensors == ["a", "b"] and damaged.problem == "crc mismatch"


def test_truncated_storage_is_out_of_bounds(tmp_path, capsys):
    path = cf.write_state_dict(tmp_path)
    sd = cf.tiny_net().state_dict()
    info = record_of(path, sd["conv.weight"])
    short = tmp_path / "short.pth"
    rewrite_zip(path, short, {info.filename: sd["conv.weight"].numpy().tobytes()[:40]})
    with pytest.raises(InspectorError):
        load_checkpoint(short)  # the loader refuses the whole file; verify names the tensor
    report = verify_checkpoint(short)
    assert [(d.record, d.problem, d.tensors) for d in report.damaged] == [
        (info.filename, "out of bounds", ["conv.weight"])
    ]
    assert report.tensors_checked == 9
    assert main(["verify", str(short)]) == 1
    assert "out of bounds" in capsys.readouterr().out


def test_legacy_truncated_is_out_of_bounds(tmp_path):
    path = tmp_path / "legacy.pth"
    sd = cf.tiny_net().state_dict()
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-4])  # the last storage loses 4 bytes (legacy keys: any order)
    (damaged,) = verify_checkpoint(path).damaged
    (name,) = damaged.tensors
    needed = sd[name].numel() * sd[name].element_size()
    assert damaged.problem == "out of bounds" and damaged.record.startswith("storage ")
    assert damaged.detail == f"{needed - 4:,} of the {needed:,} bytes its tensors need are in the file"


def test_safetensors_checked_for_bounds(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "t.safetensors"
    save_file(cf.tiny_net().state_dict(), str(path))
    report = verify_checkpoint(path)
    assert report.ok and report.tensors_checked == 9 and report.unchecked
    path.write_bytes(path.read_bytes()[:-4])
    report = verify_checkpoint(path)
    assert not report.ok and report.damaged[0].problem == "out of bounds"
    assert len(report.damaged) == 1 and report.damaged[0].tensors


def test_unreadable_file_is_one_line_error(tmp_path, capsys):
    path = cf.write_state_dict(tmp_path)
    path.write_bytes(path.read_bytes()[:200])  # no central directory left, nor data.pkl whole
    assert main(["verify", str(path)]) == 2  # 0 ok, 1 damage found, 2 not checkable (1 before, as damage)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}: ")
    assert main(["verify", str(tmp_path / "absent.pth")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unreadable_file_with_json_prints_the_error_as_json(tmp_path, capsys):
    """--json on a file that cannot be checked: a JSON object on stdout (nothing before), the line on stderr."""
    path = tmp_path / "absent.pth"
    assert main(["verify", "--json", str(path)]) == 2
    out = capsys.readouterr()
    err = out.err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    printed = json.loads(out.out)
    assert printed["file"] == str(path) and printed["ok"] is False and printed["damaged"] == []
    assert printed["error"] == err[0].removeprefix("error: ") and "no such file" in printed["error"]
    good = cf.write_state_dict(tmp_path)
    assert main(["verify", "--json", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["error"] is None


def test_verify_help_names_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit 0: ok; 1: damage found (named by tensor); 2: the file could not be checked" in text


def test_job_yields_progress_in_bytes(tmp_path):
    path = cf.write_training_checkpoint(tmp_path)
    seen = []
    report = run_job(iter_verify(path), seen.append)
    assert report.ok
    fractions = [p.fraction for p in seen if p.fraction is not None]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any("checking" in p.message for p in seen)


# -- fuzz findings: verify said ok where the loader refused (scripts/fuzz_checkpoints.py, seed 0) -------------
def test_legacy_storage_longer_than_declared(tmp_path):
    """A legacy storage whose count says more elements than its tensors declare (case 00055)."""
    import hostile_factory as hf

    main_pickle = {"w": hf.rebuild_tensor(hf.legacy_storage("0", 3), (3,), (1,))}
    path = tmp_path / "long.pth"
    path.write_bytes(hf.legacy_bytes(main_pickle, [("0", "FloatStorage", 5, hf.floats(1, 2, 3, 4, 5))]))
    with pytest.raises(InspectorError):
        load_checkpoint(path)
    (damaged,) = verify_checkpoint(path).damaged
    assert (damaged.record, damaged.problem, damaged.tensors) == ("storage 0", "out of bounds", ["w"])
    assert damaged.detail == "it holds 20 bytes, its tensors declare 12"


def test_safetensors_data_not_covered_exactly(tmp_path):
    """Bytes after the last tensor: safetensors refuses the file (case 00017)."""
    from safetensors.torch import save_file

    path = tmp_path / "t.safetensors"
    save_file({"a": torch.ones(3)}, str(path))
    path.write_bytes(path.read_bytes() + b"\0" * 4)
    (damaged,) = verify_checkpoint(path).damaged
    assert (damaged.record, damaged.problem) == ("data", "trailing data")  # was "out of bounds"
    assert damaged.detail.startswith("4 bytes after the last tensor's data (the data section holds 16 bytes")


def test_what_the_loader_refuses_verify_does_not_pass(tmp_path, capsys):
    """A legacy file whose magic number is damaged reads as a plain pickle of an int (case 00084): the
    loader says it holds no tensors; verify ends with the same one-line error instead of 'ok'."""
    import pickle

    path = tmp_path / "int.pth"
    path.write_bytes(pickle.dumps(12345))
    with pytest.raises(InspectorError, match="holds no tensors"):
        verify_checkpoint(path)
    assert main(["verify", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: the file holds no tensors")


@pytest.mark.parametrize("form", ["state_dict", "module", "torchscript"])
def test_quantized_weights_named_and_counted(tmp_path, form):
    """Quantized and packed weights (``fc._packed_params``): a flip in their data names the weight, and verify
    counts the tensors the listing shows (their storages are the loader's mapped views, not placeholders)."""
    import quantized_factory as qf

    if qf.engine() is None:
        pytest.skip("no quantized engine on this CPU")
    path = qf.write_all(tmp_path, qf.static_conv_net(), "q")[form]
    assert verify_checkpoint(path).tensors_checked == len(load_checkpoint(path, resolve=False).entries)
    with zipfile.ZipFile(path) as z:
        biggest = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    flip_byte(path, data_offset(path, biggest) + 1)
    (damaged,) = verify_checkpoint(path).damaged
    assert (damaged.record, damaged.problem, damaged.tensors) == (
        biggest.filename,
        "crc mismatch",
        ["fc.weight"],
    )


# -- a new user's trial -----------------------------------------------------------------------------------
def cd_entry_of(data: bytes, name: str) -> int:
    """Offset of ``name``'s central directory entry."""
    eocd = data.rfind(b"PK\x05\x06")
    pos = struct.unpack("<I", data[eocd + 16 : eocd + 20])[0]
    while data[pos : pos + 4] == b"PK\x01\x02":
        nlen, elen, clen = struct.unpack("<HHH", data[pos + 28 : pos + 34])
        if data[pos + 46 : pos + 46 + nlen].decode() == name:
            return pos
        pos += 46 + nlen + elen + clen
    raise KeyError(name)


@pytest.mark.parametrize("field", [20, 24], ids=["compressed size", "uncompressed size"])
def test_directory_size_that_disagrees_with_the_record_is_damage(tmp_path, capsys, field):
    """The low byte of a record's size XORed in the central directory: torch.load refuses the file ("invalid
    header or archive is corrupted"), so list refuses it and verify names the tensor (both said ok before)."""
    path = cf.write_state_dict(tmp_path)
    info = record_of(path, cf.tiny_net().state_dict()["bn.weight"])
    data = bytearray(path.read_bytes())
    data[cd_entry_of(data, info.filename) + field] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(RuntimeError):
        torch.load(path, weights_only=True)
    with pytest.raises(InspectorError, match="data/"):
        load_checkpoint(path)
    (damaged,) = verify_checkpoint(path).damaged
    assert (damaged.record, damaged.problem, damaged.tensors) == (
        info.filename,
        "header mismatch",
        ["bn.weight"],
    )
    assert "8 stored bytes and 9" in damaged.detail or "9 stored bytes and 8" in damaged.detail
    assert main(["verify", str(path)]) == 1
    assert "bn.weight" in capsys.readouterr().out


def test_directory_crc_or_method_that_disagrees_with_the_local_header(tmp_path):
    """The CRC-32 in the directory against the data descriptor, the method against the local header."""
    path = cf.write_state_dict(tmp_path)
    info = record_of(path, cf.tiny_net().state_dict()["fc.bias"])
    data = path.read_bytes()
    crc = bytearray(data)
    crc[cd_entry_of(data, info.filename) + 16] ^= 0x01
    (tmp_path / "crc.pth").write_bytes(bytes(crc))
    method = bytearray(data)
    method[info.header_offset + 8] = 8  # the local header says deflated, the directory stored
    (tmp_path / "method.pth").write_bytes(bytes(method))
    renamed = bytearray(data)
    renamed[info.header_offset + 30 + len(info.filename) - 1] ^= 0x01  # data/7 -> data/6 in the local header
    (tmp_path / "name.pth").write_bytes(bytes(renamed))
    for name, words in (("crc.pth", "CRC-32"), ("method.pth", "compression method 0, its local header 8"),
                        ("name.pth", "give it different names")):  # fmt: skip
        (damaged,) = verify_checkpoint(tmp_path / name).damaged
        assert damaged.problem == "header mismatch" and damaged.tensors == ["fc.bias"]
        assert words in damaged.detail


def test_record_longer_than_its_storage_is_damage(tmp_path):
    """torch refuses a record longer than its storage declares ("record size does not match expected size")."""
    path = cf.write_state_dict(tmp_path)
    sd = cf.tiny_net().state_dict()
    info = record_of(path, sd["fc.bias"])
    long = tmp_path / "long.pth"
    rewrite_zip(path, long, {info.filename: sd["fc.bias"].numpy().tobytes() + b"\0" * 4})
    with pytest.raises(RuntimeError):
        torch.load(long, weights_only=True)
    needed = sd["fc.bias"].numel() * 4
    with pytest.raises(InspectorError, match=f"holds {needed + 4} bytes, its tensor needs {needed}"):
        load_checkpoint(long)
    (damaged,) = verify_checkpoint(long).damaged
    assert (damaged.problem, damaged.tensors) == ("out of bounds", ["fc.bias"])


def test_truncated_zip_names_the_missing_tensors(tmp_path, capsys):
    """Half a zip checkpoint: its directory is gone, so zipfile (and verify before) only said "truncated or
    corrupt"; the local headers from the start still hold data.pkl, so the missing tensors are named."""
    path = cf.write_state_dict(tmp_path)
    data = path.read_bytes()
    sd = cf.tiny_net().state_dict()
    with zipfile.ZipFile(path) as z:
        cut_at = len(data) // 2
        gone = {i.filename for i in z.infolist() if data_offset(path, i) + i.file_size + 16 > cut_at}
        prefix = z.namelist()[0].split("/")[0]
        by_record = {f"{prefix}/data/{i}": name for i, name in enumerate(sd)}  # torch numbers them in order
    half = tmp_path / "half.pth"
    half.write_bytes(data[:cut_at])
    report = verify_checkpoint(half)
    assert report.damaged[0].record == "central directory" and report.damaged[0].problem == "missing"
    named = {d.record: d.tensors for d in report.damaged[1:]}
    assert set(named) == {r for r in gone if r in by_record}
    assert {t for ts in named.values() for t in ts} == {by_record[r] for r in gone if r in by_record}
    assert report.tensors_checked == 9
    assert main(["verify", str(half)]) == 1
    out = capsys.readouterr().out
    assert "fc.weight" in out and "error" not in out

    cut = tmp_path / "cut10.pth"
    cut.write_bytes(data[:-10])  # only the end record is damaged: every record is whole
    (damaged,) = verify_checkpoint(cut).damaged
    assert (
        damaged.record == "central directory"
        and "the 15 records before where it ends are whole" in damaged.detail
    )


def test_truncated_zip_without_a_whole_pickle_is_the_error(tmp_path):
    path = cf.write_state_dict(tmp_path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(InspectorError, match="truncated or corrupt"):
        verify_checkpoint(path)


def test_truncated_legacy_file_names_the_tensor_not_a_storage_key(tmp_path):
    """list on half a legacy file said "refused: storage 94842851280496 declares 216,320 bytes, more than the
    whole file; nothing was executed; do not load it with torch.load": an internal key, in an attack's words."""
    path = tmp_path / "legacy.pth"
    torch.save({"3.weight": torch.ones(20, 10), "3.bias": torch.ones(54080)}, path,
               _use_new_zipfile_serialization=False)  # fmt: skip
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InspectorError) as caught:
        load_checkpoint(path, resolve=False)
    message = caught.value.message
    assert (
        f"tensor 3.bias needs 216,320 bytes of data, more than the whole file holds ({path.stat().st_size:,} "
        in message
    )
    assert "cut short" in message and "re-download" in message
    assert "refused" not in message and "torch.load" not in message and "storage " not in message
    assert "3.bias" in [t for d in verify_checkpoint(path).damaged for t in d.tensors]


@pytest.mark.parametrize("numel", [1 << 40, 1 << 61])
def test_legacy_storage_of_an_absurd_size_still_refused_without_allocating(tmp_path, numel):
    """4 TiB: a meta placeholder names the tensor (nothing allocated); 8 EiB: refused before any placeholder."""
    import hostile_factory as hf

    main_pickle = {"w": hf.rebuild_tensor(hf.legacy_storage("0", numel), (numel,), (1,))}
    path = tmp_path / "huge.pth"
    path.write_bytes(hf.legacy_bytes(main_pickle, [("0", "FloatStorage", 3, hf.floats(1, 2, 3))]))
    with pytest.raises(InspectorError, match="tensor w needs|declares") as caught:
        load_checkpoint(path)
    assert ("refused" in caught.value.message) == (numel == 1 << 61)


@pytest.mark.parametrize("form", ["zip", "legacy"])
def test_bytes_appended_are_a_note_not_damage(tmp_path, capsys, form):
    """torch.load ignores bytes after a zip's end record or a legacy file's last storage: still ok (exit 0),
    but said (they passed without a word before)."""
    path = cf.write_state_dict(tmp_path) if form == "zip" else cf.write_legacy(tmp_path)
    assert verify_checkpoint(path).notes == []
    path.write_bytes(path.read_bytes() + b"\x01" * 700)
    torch.load(path, weights_only=True)
    report = verify_checkpoint(path)
    assert report.ok and report.trailing_bytes == 700
    assert main(["verify", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    end = "the archive" if form == "zip" else "the file's data"
    assert f"note: 700 bytes after the end of {end} (a broken download or two files joined?)" in lines
    assert main(["verify", "--json", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["trailing_bytes"] == 700 and len(out["notes"]) == 1


def test_list_of_a_truncated_zip_points_at_verify_in_each_faces_words(tmp_path, capsys):
    path = cf.write_state_dict(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert main(["list", str(path)]) == 1
    err = capsys.readouterr().err
    assert "a zip archive that is truncated or corrupt; re-download it or save it again" in err
    assert err.rstrip().endswith(f"; `inspector verify {path}` names the damaged tensors")
    with pytest.raises(InspectorError) as raised:
        load_checkpoint(path)
    assert raised.value.gui_message.endswith("; File › Verify… names the damaged tensors")
    assert "re-download" in raised.value.gui_message  # the window still offers Verify… for it


def test_damaged_optimizer_state_is_named_with_its_parameter(tmp_path, capsys):
    path = cf.write_training_checkpoint(tmp_path)
    exp_avg = torch.load(path, weights_only=True)["optimizer_state_dict"]["state"][4]["exp_avg"]  # fc.weight
    info = record_of(path, exp_avg)
    flip_byte(path, data_offset(path, info) + 5)
    report = verify_checkpoint(path)
    assert [d.tensors for d in report.damaged] == [["optimizer_state_dict/state.4.exp_avg"]]
    line = report.damaged[0].line()
    assert "tensor optimizer_state_dict/state.4.exp_avg (exp_avg of fc.weight)" in line
    assert main(["verify", "--json", str(path)]) == 1
    damaged = json.loads(capsys.readouterr().out)["damaged"][0]
    assert damaged["tensors"] == ["optimizer_state_dict/state.4.exp_avg"]  # the key stays as it was
    assert damaged["labels"] == {"optimizer_state_dict/state.4.exp_avg": "exp_avg of fc.weight"}
    assert main(["verify", str(path)]) == 1
    assert "(exp_avg of fc.weight)" in capsys.readouterr().out
