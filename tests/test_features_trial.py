"""Core and CLI side of the Features trial: a shared module's second call, --index range, an explicit model
class over key matching, messages worded for where they are shown."""

import json

import pytest
import torch
from test_features import DEMO, run_cli  # the same CLI helper and demo file

from inspector.core.activations.features import MnistSamples, iter_run, prepare_model
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.errors import InspectorError
from inspector.core.jobs import run_job

pytestmark = pytest.mark.usefixtures("private_dirs")  # the remembered data root: temporary


# -- 3. a module called twice: its second call is ablatable on its own ------------------------------------------
def test_second_call_of_a_shared_pool_is_zeroed_alone(mnist_root):
    model = prepare_model(load_checkpoint(DEMO), "cpu")
    sample = MnistSamples(mnist_root).sample(0)
    plain = run_job(iter_run(model, sample))
    second = run_job(iter_run(model, sample, {"pool#2": [0, 5]}))
    assert second.ablated == {"pool#2": [0, 5]}
    assert torch.equal(second.layer("pool").output, plain.layer("pool").output)  # the first call untouched
    assert float(second.layer("pool#2").output[[0, 5]].abs().max()) == 0.0
    assert torch.equal(second.layer("pool#2").output[1:5], plain.layer("pool#2").output[1:5])
    assert not torch.equal(second.logits, plain.logits)
    first = run_job(iter_run(model, sample, {"pool": [0]}))
    assert float(first.layer("pool").output[0].abs().max()) == 0.0
    assert float(first.layer("pool#2").output[0].abs().max()) > 0  # only the first call was zeroed


def test_a_call_that_never_comes_is_a_clear_error(mnist_root):
    model = prepare_model(load_checkpoint(DEMO), "cpu")
    sample = MnistSamples(mnist_root).sample(0)
    with pytest.raises(InspectorError, match=r"pool runs 2 time\(s\) in one pass \(pool, pool#2\)"):
        run_job(iter_run(model, sample, {"pool#3": [0]}))


def test_cli_ablates_the_second_call(mnist_root, capsys):
    code, out, _ = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--ablate", "pool#2:0", "--json")
    report = json.loads(out)
    layers = {layer["name"]: layer for layer in report["layers"]}
    assert code == 0 and report["ablated"] == {"pool#2": [0]} and layers["pool#2"]["min"] == 0.0
    code, _, err = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--ablate", "pool#3:0")
    assert code == 1 and err.startswith("error:") and "pool#3" in err and len(err.strip().splitlines()) == 1


# -- 6. a class the user names wins over key matching ---------------------------------------------------------
DIGITS_CLASS = """
import torch
from torch import nn
from torch.nn import functional as F


class HalfDigits(nn.Module):
    '''The demo net's layers (so the demo file's keys fit), with its logits halved: a run shows which ran.'''

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1)))) / 2
"""


@pytest.fixture
def half_digits(tmp_path):
    path = tmp_path / "half_digits.py"
    path.write_text(DIGITS_CLASS)
    return f"{path}:HalfDigits"


def test_an_explicit_model_class_wins_over_the_key_match(half_digits, mnist_root):
    ckpt = load_checkpoint(DEMO)
    assert ckpt.architecture == "mnist_cnn"  # the keys match a known architecture...
    model = prepare_model(ckpt, "cpu", half_digits, trust_class=True)
    assert model.resolved.source == "model_class" and type(model.module).__name__ == "HalfDigits"
    assert model.resolved.description == ("model class HalfDigits (user-named, trusted), chosen over known "
                                          "architecture mnist_cnn that the keys match")  # fmt: skip
    sample = MnistSamples(mnist_root).sample(0)
    known = run_job(iter_run(prepare_model(ckpt, "cpu"), sample))
    chosen = run_job(iter_run(model, sample))
    assert torch.allclose(chosen.logits, known.logits / 2, atol=1e-5)  # ...but the user's class ran


def test_cli_model_class_wins_and_says_so(half_digits, mnist_root, capsys):
    code, out, _ = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--model-class", half_digits, "--trust",
                           "--json")  # fmt: skip
    report = json.loads(out)
    assert code == 0 and report["model_source"] == "model_class"
    assert report["model"].startswith("model class HalfDigits") and "mnist_cnn" in report["model"]
    code, out, _ = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--model-class", half_digits, "--trust")
    assert code == 0 and "model: model class HalfDigits (user-named, trusted), chosen over known" in out
    code, _, err = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--model-class", half_digits)
    assert code == 1 and "--trust" in err and len(err.strip().splitlines()) == 1  # running it needs trust


# -- 2. the command line keeps its flags --------------------------------------------------------------------------
def test_an_error_carries_both_wordings_of_its_fix():
    from inspector.core.errors import Fix

    exc = InspectorError("x.pth: something is off", Fix(cli="use --flag", gui="use the Flag button"))
    assert exc.message == str(exc) == "x.pth: something is off; use --flag"
    assert exc.gui_message == "x.pth: something is off; use the Flag button"
    assert InspectorError("plain").gui_message == "plain"


def test_cli_messages_still_name_the_flags(tmp_path, capsys):
    from checkpoint_factory import write_pickled_module

    torch.save({"a.weight": torch.ones(2, 2)}, tmp_path / "bare.pth")
    code, _, err = run_cli(capsys, tmp_path / "bare.pth")
    assert code == 1 and "--model-class path/to/file.py:ClassName (GUI: Choose model class...)" in err
    code, _, err = run_cli(capsys, write_pickled_module(tmp_path), "--image", tmp_path / "none.png")
    assert code == 1 and "open it with --trust (or File > Trust and reload)" in err
    if not torch.cuda.is_available():
        code, _, err = run_cli(capsys, DEMO, "--device", "cuda", "--image", tmp_path / "none.png")
        assert code == 1 and err.strip().endswith("no CUDA GPU; use --device cpu")


# -- 5. the CLI's --index out of range stays one line, exit 1 -----------------------------------------------------
@pytest.mark.parametrize("past_the_end", [True, False])
def test_cli_index_out_of_range_is_one_line(past_the_end, mnist_root, capsys):
    size = len(MnistSamples(mnist_root).labels)  # 10000 for MNIST, fewer for the font digits
    index = size if past_the_end else -1
    code, out, err = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--index", index)
    assert code == 1 and not out and len(err.strip().splitlines()) == 1
    assert err.startswith(
        f"error: {mnist_root}: index {index} is out of range; the test split has {size} images"
    )
