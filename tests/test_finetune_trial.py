"""The fine-tuning trial's findings: the input is never overwritten from the CLI, --freeze adds up, a damaged
base file is refused, every numeric flag is checked up front, saved files get the umask's mode."""

from __future__ import annotations

import json
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


def test_freeze_is_repeatable_and_additive(base, data_root, tmp_path, capsys):
    out = tmp_path / "o.pth"
    assert main(finetune(base, data_root, out, "--freeze", "conv1", "--freeze", "bn1,,fc1.*", "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["frozen_parameters"] == ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                                           "fc1.weight", "fc1.bias"]  # fmt: skip
    assert "bn1.running_mean" in report["frozen"] and report["notes"] == []
    assert torch.load(out, weights_only=True)["hyper_parameters"]["freeze"] == ["conv1", "bn1", "fc1.*"]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--epochs", "0"], "--epochs 0: give at least 1"),
        (["--lr", "-1"], "--lr -1: give a number above 0"),
        (["--lr", "nan"], "--lr nan: give a number above 0"),
        (["--batch-size", "0"], "--batch-size 0: give at least 1"),
        (["--weight-decay", "-1"], "--weight-decay -1: give 0 or more"),
        (["--optimizer", "sgd", "--momentum", "1"], "--momentum 1: give a number in [0, 1)"),
        (["--optimizer", "adam", "--momentum", "0.5"], "--momentum applies to --optimizer sgd only"),
        (["--freeze-all-but-last", "-1"], "--freeze-all-but-last -1: give 0 or more"),
        (["--freeze-all-but-last", "6"], "--freeze-all-but-last 6: the model has 5 modules with parameters"),
        (["--new-head", "0"], "--new-head 0: give the number of classes, at least 2"),
        (["--freeze", "conv["], "--freeze pattern 'conv[' is an invalid glob pattern"),
        (["--freeze", "nosuch"], "--freeze pattern 'nosuch' matches no parameter or module"),
    ],
)
def test_each_bad_flag_is_named_with_the_file(base, data_root, tmp_path, capsys, flags, said):
    out = tmp_path / "o.pth"
    with _no_warnings():
        code = main(finetune(base, data_root, out, *flags))
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: {base}: {said}") and len(err.splitlines()) == 1
    assert not out.exists()


def _no_warnings():
    import warnings

    class Strict:
        def __enter__(self):
            self.ctx = warnings.catch_warnings()
            self.ctx.__enter__()
            warnings.simplefilter("error")  # torch's UserWarning for a zero-class head must not happen

        def __exit__(self, *exc):
            self.ctx.__exit__(*exc)

    return Strict()


@pytest.mark.parametrize("flags", [[], ["--freeze", ",,"], ["--freeze-all-but-last", "5"]])
def test_nothing_frozen_is_said_not_certified(base, data_root, tmp_path, capsys, flags):
    assert main(finetune(base, data_root, tmp_path / "o.pth", *flags)) == 0
    out = capsys.readouterr().out
    assert "note: nothing frozen: " in out and "frozen tensors: nothing frozen" in out
    assert "bitwise unchanged" not in out


def test_fashion_mnist_missing_is_called_fashion_mnist(base, data_root, tmp_path, capsys):
    assert (
        main(
            ["finetune", str(base), "--data", f"fashion-mnist:{data_root}", "--out", str(tmp_path / "o.pth")]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "no Fashion-MNIST test split" in err and "no MNIST" not in err


def test_help_shows_defaults_and_freeze_chooses_what_is_frozen(capsys):
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for shown in ("passes over the training set (default: 1)", "learning rate (default: 0.001)",
                  "images per step (default: 128)", "(default: adam)", "(default: none)", "(default: auto)",
                  "(default: 0)", "what is frozen:", "repeat it to add more", "SGD momentum, in [0, 1) (default: 0.9)"):  # fmt: skip
        assert shown in text, shown


def _flip_in_conv1_weight(path) -> None:
    """One byte flipped inside conv1.weight's record (found by content), as a bad download would."""
    import struct
    import zipfile

    raw = torch.load(path, weights_only=True)["model_state_dict"]["conv1.weight"].numpy().tobytes()
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if "/data/" in i.filename and z.read(i) == raw)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    data[info.header_offset + 30 + name_len + extra_len + 5] ^= 0x40
    path.write_bytes(bytes(data))


def test_a_damaged_base_file_is_refused_before_training(base, data_root, tmp_path, capsys):
    _flip_in_conv1_weight(base)
    out = tmp_path / "o.pth"
    assert main(finetune(base, data_root, out, "--freeze", "conv1")) == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err[-1].startswith(f"error: {base}: damaged tensors model_state_dict/conv1.weight (crc mismatch)")
    assert "re-download or restore it" in err[-1] and "--no-verify" in err[-1]
    assert not out.exists() and "bitwise unchanged" not in captured.out and "epoch 1" not in captured.err
    assert main(finetune(base, data_root, out, "--freeze", "conv1", "--no-verify", "--json")) == 0  # as asked
    assert json.loads(capsys.readouterr().out)["frozen_unchanged"] is True
    saved = torch.load(out, weights_only=True)
    assert saved["hyper_parameters"]["verify"] is False


def test_the_check_is_a_stage_of_the_job_and_the_window_wording(base, data_root):
    from inspector.commands.common import load_or_fail
    from inspector.core.jobs import run_job
    from inspector.core.training.loop import iter_finetune
    from inspector.core.training.prepare import prepare_run
    from inspector.core.training.settings import FinetuneSettings

    run = prepare_run(
        load_or_fail(str(base)), FinetuneSettings(data=f"mnist:{data_root}", limit=20, batch_size=16)
    )
    messages = []
    run_job(iter_finetune(run), lambda p: messages.append(p.message))
    assert messages[0].startswith("checking the base file") and "validation" in " ".join(messages)
    _flip_in_conv1_weight(base)
    run = prepare_run(
        load_or_fail(str(base)), FinetuneSettings(data=f"mnist:{data_root}", limit=20, batch_size=16)
    )
    with pytest.raises(InspectorError) as damaged:
        run_job(iter_finetune(run))
    assert "File › Verify…" in damaged.value.gui_message and "--no-verify" not in damaged.value.gui_message


def test_safetensors_base_trains_as_before(data_root, tmp_path, capsys):
    from safetensors.torch import save_file

    from inspector.core.models.demo import MnistCNN

    torch.manual_seed(0)
    path = tmp_path / "demo.safetensors"
    save_file(MnistCNN().state_dict(), str(path))
    assert main(finetune(path, data_root, tmp_path / "o.pth", "--freeze", "conv1")) == 0
    assert "bitwise unchanged" in capsys.readouterr().out


def test_cli_diff_lists_parameters_then_buffers_then_optimizer_state(tmp_path, capsys):
    from inspector.core.models.demo import MnistCNN

    torch.manual_seed(0)
    state = MnistCNN().state_dict()

    def save(name, scale):
        tuned = {k: (v * scale if v.is_floating_point() else v) for k, v in state.items()}
        groups = [{"lr": 1e-3, "params": [0]}]
        opt = {"state": {0: {"exp_avg": torch.full((16, 1, 3, 3), scale**4)}}, "param_groups": groups}
        path = tmp_path / name
        torch.save({"model_state_dict": tuned, "optimizer_state_dict": opt}, path)
        return str(path)

    a, b = save("a.pth", 1.0), save("b.pth", 1.01)
    assert main(["diff", a, b, "--changed"]) == 1  # num_batches_tracked, unchanged, is left out
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()[3:14]]
    assert len(names) == 11 and "bn1.running_var" in names
    kinds = [
        "optimizer" if n.startswith("optimizer") else "buffer" if "running" in n else "parameter"
        for n in names
    ]
    assert kinds[0] == "parameter" and kinds == sorted(kinds, key=["parameter", "buffer", "optimizer"].index)
    assert (
        main(["diff", a, b, "--sort", "rel_l2"]) == 1
    )  # the old order, on request: the largest rel_l2 first
    assert capsys.readouterr().out.splitlines()[3].startswith("optimizer_state_dict/state.0.exp_avg")


def test_a_fine_tuned_files_frozen_list_sets_trainable(base, data_root, tmp_path, capsys):
    from inspector.core.checkpoint.loader import load_checkpoint

    out = tmp_path / "tuned.pth"
    assert main(finetune(base, data_root, out, "--freeze", "conv1,bn1")) == 0
    capsys.readouterr()
    assert main(["list", str(out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    rows = {r["name"]: r for r in (listed["entries"] if isinstance(listed, dict) else listed)}
    assert rows["conv1.weight"]["requires_grad"] is False and rows["bn1.bias"]["requires_grad"] is False
    assert rows["fc1.weight"]["requires_grad"] is True
    assert rows["conv1.weight"]["trainable_source"] == "frozen list"
    ckpt = load_checkpoint(str(out))
    assert (
        ckpt.totals.trainable == sum(e.numel for e in ckpt.entries if e.kind == "parameter") - 16 * 9 - 16 * 3
    )
    plain = load_checkpoint(str(base))  # no frozen list: inferred, all train
    weight = next(e for e in plain.entries if e.name == "conv1.weight")
    assert weight.requires_grad and weight.trainable_source == "inferred"
