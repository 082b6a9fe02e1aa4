"""The new-user trial's CLI findings: counts of one are singular ("1 buffers" before), and ``diff --changed``
of two files that share no names says so instead of an empty table."""

import json

import torch

from inspector.cli import main
from inspector.core import render
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.checkpoint.model import totals_line


def run_cli(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_counts_of_one_are_singular_in_list_diff_filters_and_verify(tmp_path, capsys):
    torch.save({"w": torch.randn(1), "bn.num_batches_tracked": torch.tensor(3)}, tmp_path / "a.pth")
    torch.save({"w": torch.randn(2)}, tmp_path / "b.pth")
    torch.save({"conv.weight": torch.randn(1, 1, 3, 3), "bias": torch.randn(1)}, tmp_path / "c.pth")
    code, out, _ = run_cli(capsys, "list", tmp_path / "a.pth")
    assert code == 0 and "2 tensors, 1 parameter* (1 trainable), 1 buffer*, 12 B" in out
    totals = load_checkpoint(tmp_path / "c.pth").totals
    assert totals_line(totals).startswith("2 tensors, 10 parameters* (10 trainable), 0 buffers*")
    code, out, _ = run_cli(capsys, "diff", tmp_path / "a.pth", tmp_path / "b.pth")
    assert code == 1 and "1 tensor compared: 1 changed (1 shape mismatch), 0 unchanged; 1 only in A" in out
    code, out, _ = run_cli(capsys, "diff", tmp_path / "b.pth", tmp_path / "b.pth")
    assert code == 0 and out.rstrip().endswith(", 1 tensor equal")
    code, out, _ = run_cli(
        capsys, "filters", tmp_path / "c.pth", "--tensor", "conv.weight", "--out", tmp_path / "f.png"
    )
    assert code == 0 and "1 filter of conv.weight" in out
    grid = render.filter_grid(torch.randn(1, 1, 3, 3))
    assert render.tensor_figures.grid_description(grid).startswith("1 filter in 1x1 tiles")
    assert render.tensor_figures.series_description(render.series_1d(torch.randn(1))).startswith("1 value")
    code, out, _ = run_cli(capsys, "verify", tmp_path / "c.pth")
    assert code == 0 and " and 2 tensors checked" in out
    code, out, _ = run_cli(capsys, "verify", "--json", tmp_path / "c.pth")
    assert json.loads(out)["tensors_checked"] == 2


def test_filter_layout_caption_counts(tmp_path):
    from inspector.core.filter_layout import describe, fit_mosaic

    grid = render.filter_grid(torch.randn(1, 1, 3, 3))
    assert describe(grid, fit_mosaic(grid, 4 / 3)).startswith("1 filter, 1x1 tiles")
    rows = render.filter_grid(torch.randn(1, 2, 3, 3), composite=False)
    assert describe(rows, fit_mosaic(rows, 4 / 3)).startswith("1 filter x 2 input channels")


def test_diff_of_files_without_shared_names_says_so_in_one_line(tmp_path, capsys):
    """Before: an empty table (a header, no rows) and '0 tensors compared'."""
    torch.save({"a.weight": torch.randn(2), "a.bias": torch.randn(2)}, tmp_path / "x.pth")
    torch.save({"b.weight": torch.randn(2)}, tmp_path / "y.pth")
    for flags in (["--changed"], []):
        code, out, _ = run_cli(capsys, "diff", tmp_path / "x.pth", tmp_path / "y.pth", *flags)
        assert code == 1  # diff's "different"
        assert out.splitlines() == [
            f"different: {tmp_path / 'x.pth'} and {tmp_path / 'y.pth'} share no tensor names (2 only in A, "
            "1 only in B); nothing to compare value by value (--json lists the names)"
        ]
    code, out, _ = run_cli(capsys, "diff", "--json", tmp_path / "x.pth", tmp_path / "y.pth")
    doc = json.loads(out)
    assert code == 1 and doc["tensors"] == [] and doc["only_in_a"] == ["a.weight", "a.bias"]


def test_diff_changed_with_nothing_changed_but_names_in_one_file_says_so(tmp_path, capsys):
    torch.save({"w": torch.ones(2), "extra": torch.randn(2)}, tmp_path / "x.pth")
    torch.save({"w": torch.ones(2)}, tmp_path / "y.pth")
    code, out, _ = run_cli(capsys, "diff", "--changed", tmp_path / "x.pth", tmp_path / "y.pth")
    lines = out.splitlines()
    assert code == 1 and "name" not in lines[2]  # no empty table header
    assert lines[2:] == ["no shared tensor changed", "1 tensor compared: 0 changed, 1 unchanged; 1 only in A",
                         "only in A (1): extra"]  # fmt: skip


def test_readme_says_diff_is_the_exception_to_exit_1():
    """Before: "Expected failures print one line ... and exit 1." with no exception, beside diff's exit 2."""
    import pathlib

    from inspector.commands.diff import EXIT_DIFFERENT, EXIT_ERROR, EXIT_IDENTICAL

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    sentence = " ".join(readme.split("Expected failures print one line", 1)[1].split("\n\n", 1)[0].split())
    assert sentence.startswith(
        ", `error: FILE: what went wrong; what to do`, and exit 1, except in `diff`, which exits 2"
    )
    assert (EXIT_IDENTICAL, EXIT_DIFFERENT, EXIT_ERROR) == (0, 1, 2)
    assert (
        f"exit {EXIT_IDENTICAL} when every tensor is equal, {EXIT_DIFFERENT} when something differs"
        in sentence
    )


def test_list_header_names_the_layout_once(tmp_path, capsys):
    """A TorchScript file's header read 'ts.pt: torchscript (torchscript)'."""
    scripted = torch.jit.script(torch.nn.Linear(2, 1))
    path = tmp_path / "ts.pt"
    scripted.save(str(path))
    code, out, _ = run_cli(capsys, "list", path)
    assert code == 0 and out.splitlines()[0] == f"{path}: torchscript"
    plain = tmp_path / "sd.pth"
    torch.save({"w": torch.zeros(2)}, plain)
    assert run_cli(capsys, "list", plain)[1].splitlines()[0] == f"{plain}: state_dict (zip)"
