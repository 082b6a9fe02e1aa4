"""Core and CLI side of the Features trial: a shared module's second call, --index range, an explicit model
class over key matching, messages worded for where they are shown."""

import json

import pytest
import torch

from inspector.cli import main
from inspector.core.activations.features import MnistSamples, iter_run, prepare_model
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.errors import InspectorError
from inspector.core.jobs import run_job

DEMO = "resources/demo_mnist_cnn.pth"


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def run_cli(capsys, *args):
    code = main(["features", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


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
