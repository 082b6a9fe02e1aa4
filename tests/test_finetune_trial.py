"""The fine-tuning trial's findings: the input is never overwritten from the CLI, --freeze adds up, a damaged
base file is refused, every numeric flag is checked up front, saved files get the umask's mode."""

from __future__ import annotations

import os

import pytest
import torch

from inspector.cli import main
from inspector.core.errors import InspectorError
from inspector.core.training.saving import atomic_torch_save, check_target
from tests.finetune_fixtures import write_square_digits, write_untrained_demo

QUICK = ["--limit", "40", "--batch-size", "16"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_square_digits(tmp_path_factory.mktemp("squares"), n=200)


@pytest.fixture
def base(tmp_path):
    return write_untrained_demo(tmp_path)


def finetune(base, data_root, out, *flags) -> list[str]:
    return ["finetune", str(base), "--data", f"mnist:{data_root}", *QUICK, *flags, "--out", str(out)]


def test_the_input_is_never_overwritten_from_the_cli_even_with_force(base, data_root, capsys):
    before = base.read_bytes()
    assert main(finetune(base, data_root, base, "--force")) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {base}: that is the file being fine-tuned; choose another --out; --force "
                          "replaces only files other than the input")  # fmt: skip
    assert base.read_bytes() == before
    link = base.with_name("hard.pth")
    os.link(base, link)  # another name for the same file is the input too
    assert main(finetune(base, data_root, link, "--force")) == 1
    assert "being fine-tuned" in capsys.readouterr().err and base.read_bytes() == before


def test_one_rule_for_every_save_path(base, tmp_path):
    with pytest.raises(InspectorError) as refused:
        check_target(base, base, overwrite=True)
    assert "--force replaces only" in refused.value.message
    assert refused.value.gui_message.endswith("save to a new name (or confirm overwrite)")
    assert check_target(base, base, replace_base=True) == str(base)  # the GUI, after its question
    with pytest.raises(InspectorError, match="being fine-tuned"):  # the saver itself applies the rule
        atomic_torch_save({"x": 1}, base, base=base, overwrite=True)
    other = tmp_path / "other.pth"
    other.write_bytes(b"x")
    with pytest.raises(InspectorError) as exists:
        atomic_torch_save({"x": 1}, other, base=base, overwrite=False)
    assert "--force" in exists.value.message and "confirm overwrite" in exists.value.gui_message
    assert atomic_torch_save({"x": 1}, other, base=base, overwrite=True) == str(other)


def test_saved_files_get_the_umask_mode_and_replaced_ones_keep_theirs(tmp_path):
    old = os.umask(0o027)
    try:
        new = atomic_torch_save({"x": torch.ones(2)}, tmp_path / "new.pth")
        assert os.stat(new).st_mode & 0o777 == 0o640
        os.umask(0o022)
        assert os.stat(atomic_torch_save({}, tmp_path / "b.pth")).st_mode & 0o777 == 0o644
        os.chmod(new, 0o600)
        atomic_torch_save({"x": torch.zeros(2)}, new)
        assert os.stat(new).st_mode & 0o777 == 0o600 and torch.load(new)["x"].sum() == 0
    finally:
        os.umask(old)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
