"""``python -m inspector list/stats/summary``: the JSON interface, tables, and one-line errors."""

import json
import subprocess
import sys

import checkpoint_factory as factory
import pytest

from inspector.cli import main

ENTRY_KEYS = {"name", "group", "shape", "dtype", "numel", "kind", "requires_grad"}


def run_cli(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("form", sorted(factory.GOOD_WRITERS))
def test_list_json_for_every_form(tmp_path, capsys, form):
    path = factory.GOOD_WRITERS[form](tmp_path)
    code, out, err = run_cli(capsys, "list", path, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {"path", "format", "entries", "metadata"} <= set(doc)
    assert doc["path"] == str(path)
    assert doc["entries"] and all(set(e) >= ENTRY_KEYS for e in doc["entries"])


def test_list_json_values(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "list", factory.write_training_checkpoint(tmp_path), "--json")
    doc = json.loads(out)
    first = doc["entries"][0]
    assert first == {**first, "name": "conv.weight", "group": "model_state_dict", "shape": [2, 1, 3, 3],
                     "dtype": "float32", "numel": 18, "kind": "parameter", "kind_estimated": True,
                     "requires_grad": True}  # fmt: skip
    assert doc["format"] == "training_checkpoint"
    assert doc["metadata"]["epoch"] == 7


def test_pickled_module_lists_without_trust(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "list", factory.write_pickled_module_unimportable(tmp_path), "--json")
    doc = json.loads(out)
    assert [e["name"] for e in doc["entries"]] == factory.STATE_KEYS
    assert doc["entries"][0]["kind"] == "parameter" and doc["entries"][0]["requires_grad"] is True


def test_table_output(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "list", factory.write_lightning(tmp_path))
    assert code == 0
    assert "lightning" in out.splitlines()[0]
    assert "model.conv.weight" in out and "2x1x3x3" in out
    assert "epoch: 4" in out


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\nxxxx", b"PK\x03\x04broken"])
def test_bad_files_exit_nonzero_with_one_line(tmp_path, capsys, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    code, out, err = run_cli(capsys, "list", path, "--json")
    assert code != 0 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0]


def test_dangerous_file_is_refused_and_nothing_runs(tmp_path, capsys):
    target = tmp_path / "pwned"
    code, _, err = run_cli(capsys, "list", factory.write_malicious(tmp_path, target), "--trust")
    assert code == 1 and "system" in err and not target.exists()


def test_stats_json(tmp_path, capsys):
    path = factory.write(tmp_path, "s.pth", {"w": __import__("torch").tensor([0.0, 2.0, 4.0, float("nan")])})
    code, out, _ = run_cli(capsys, "stats", path, "--tensor", "w", "--json")
    row = json.loads(out)["tensors"][0]
    assert (row["min"], row["max"], row["mean"], row["nan"], row["zeros_pct"]) == (0.0, 4.0, 2.0, 1, 25.0)


def test_stats_unknown_tensor_is_one_line(tmp_path, capsys):
    code, _, err = run_cli(capsys, "stats", factory.write_state_dict(tmp_path), "--tensor", "nope")
    assert code == 1 and "nope" in err and len(err.strip().splitlines()) == 1


def test_summary_falls_back_to_module_tree(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "summary", factory.write_pickled_module_unimportable(tmp_path))
    assert code == 0
    assert "Conv2d" in out and "BatchNorm2d" in out and "--trust" in out


def test_summary_runs_torchsummary_on_trust(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "summary", factory.write_pickled_module(tmp_path), "--trust")
    assert code == 0 and "Total params: 51" in out


def test_subprocess_has_no_traceback_and_lazy_torch(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    proc = subprocess.run(
        [sys.executable, "-m", "inspector", "list", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ")
    probe = "import sys, inspector.cli, inspector.core.checkpoint.model; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
        == "False"
    )
