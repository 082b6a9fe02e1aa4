"""Feature maps: one input through the model with every layer captured, on CPU (and CUDA when present)."""

import json
import math

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from inspector.cli import main
from inspector.core.activations.capture import iter_features, leaf_modules, run_features
from inspector.core.activations.features import MnistSamples, iter_run, prepare_model
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.errors import InspectorError, TrustRequiredError
from inspector.core.jobs import run_job

DEMO = "resources/demo_mnist_cnn.pth"
pytestmark = pytest.mark.usefixtures("private_dirs")  # the remembered data root: temporary
MODEL_FILE = """
import torch
from torch import nn

class TinyConvNet(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.conv = nn.Conv2d(1, width, 3, padding=1)
        self.head = nn.Linear(width * 28 * 28, 10)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))
"""


def run_cli(capsys, *args):
    code = main(["features", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def digit_png(tmp_path):
    """A white bar on black, 28x28, as an image file (no data set needed)."""
    image = np.zeros((28, 28), dtype=np.uint8)
    image[4:24, 12:16] = 255
    path = tmp_path / "one.png"
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def custom_model(tmp_path):
    source = tmp_path / "tiny_model.py"
    source.write_text(MODEL_FILE)
    namespace: dict = {}
    exec(MODEL_FILE, namespace)
    torch.manual_seed(0)
    model = namespace["TinyConvNet"](width=4)
    path = tmp_path / "tiny_state.pth"
    torch.save({"model_state_dict": model.state_dict(), "hyper_parameters": {"width": 4}}, path)
    return path, f"{source}:TinyConvNet", model


def test_demo_model_every_layer_with_shapes(mnist_root, capsys):
    code, out, _ = run_cli(
        capsys, DEMO, "--mnist-root", mnist_root, "--index", 0, "--json", "--device", "cpu"
    )
    assert code == 0
    report = json.loads(out)
    assert report["model_source"] == "architecture" and report["device"] == "cpu"
    assert report["input_shape"] == [1, 1, 28, 28] and report["true_label"] == 7
    shapes = {layer["name"]: layer["output_shape"] for layer in report["layers"]}
    assert shapes == {"conv1": [16, 28, 28], "bn1": [16, 28, 28], "pool": [16, 14, 14], "conv2": [32, 14, 14],
                      "pool#2": [32, 7, 7], "fc1": [64], "fc2": [10]}  # fmt: skip
    probs = report["prediction"]["probabilities"]
    assert math.isclose(sum(probs), 1.0, abs_tol=1e-5) and len(probs) == 10
    assert report["prediction"]["label"] == 7  # the demo net is right on the first test digit
    assert report["prediction"]["top"][0]["probability"] == pytest.approx(max(probs), abs=1e-6)
    assert (
        report["timing_ms"]["forward"] > 0 and report["timing_ms"]["total"] >= report["timing_ms"]["forward"]
    )


def test_outputs_equal_a_hand_written_hook(mnist_root):
    ckpt = load_checkpoint(DEMO)
    model = prepare_model(ckpt, "cpu")
    sample = MnistSamples(mnist_root).sample(5)
    result = run_job(iter_run(model, sample))
    seen = {}
    handle = model.module.conv2.register_forward_hook(
        lambda m, i, o: seen.setdefault("conv2", o.detach().clone())
    )
    with torch.no_grad():
        logits = model.module(model.preprocess.apply(sample.image))
    handle.remove()
    assert torch.equal(result.layer("conv2").output, seen["conv2"][0])
    assert torch.allclose(result.logits, logits[0])


def test_bare_state_dict_with_model_class(custom_model, digit_png, capsys):
    path, spec, model = custom_model
    code, out, _ = run_cli(capsys, path, "--model-class", spec, "--trust", "--image", digit_png, "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["model_source"] == "model_class"
    assert [(layer["name"], layer["output_shape"]) for layer in report["layers"]] == [
        ("conv", [4, 28, 28]),
        ("head", [10]),
    ]
    with torch.no_grad():
        x = torch.from_numpy(np.asarray(Image.open(digit_png), dtype=np.float32) / 255.0)[None, None]
        expected = torch.softmax(model((x - 0.1307) / 0.3081)[0].double(), 0)
    assert report["prediction"]["probabilities"] == pytest.approx(expected.tolist(), abs=1e-5)


def test_model_class_needs_trust_and_fitting_weights(custom_model, tmp_path, digit_png, capsys):
    path, spec, _ = custom_model
    with pytest.raises(TrustRequiredError):
        prepare_model(load_checkpoint(path), "cpu", spec)
    code, _, err = run_cli(capsys, path, "--model-class", spec, "--image", digit_png)
    assert code == 1 and err.startswith("error:") and "--trust" in err and len(err.splitlines()) == 1
    wrong = tmp_path / "wrong.py"
    wrong.write_text(MODEL_FILE.replace("width * 28 * 28, 10", "width * 28 * 28, 12"))
    code, _, err = run_cli(
        capsys, path, "--model-class", f"{wrong}:TinyConvNet", "--trust", "--image", digit_png
    )
    assert code == 1 and "head.weight has shape" in err


def test_resnet18_by_key_match_gets_three_channels(tmp_path, digit_png, capsys):
    torch.manual_seed(0)
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    code, out, _ = run_cli(capsys, path, "--image", digit_png, "--json", "--device", "cpu")
    assert code == 0
    report = json.loads(out)
    assert report["model_source"] == "architecture" and report["input_shape"] == [1, 3, 224, 224]
    shapes = {layer["name"]: layer["output_shape"] for layer in report["layers"]}
    assert (
        shapes["conv1"] == [64, 112, 112] and shapes["layer4.1.conv2"] == [512, 7, 7] and shapes["fc"] == [10]
    )
    assert "layer1.0.relu#2" in shapes  # a module called twice is captured twice
    assert math.isclose(sum(report["prediction"]["probabilities"]), 1.0, abs_tol=1e-5)
    code, out, _ = run_cli(capsys, path, "--image", digit_png, "--device", "cpu")
    rows = [line for line in out.splitlines() if line.startswith("  ") and " min " in line]
    assert len({line.index(" min ") for line in rows}) == 1  # one column, AdaptiveAvgPool2d's row too


def test_ablating_the_last_conv_changes_the_prediction(mnist_root):
    model = prepare_model(load_checkpoint(DEMO), "cpu")
    sample = MnistSamples(mnist_root).sample(0)
    before = run_job(iter_run(model, sample))
    unchanged = run_job(iter_run(model, sample, {"conv2": []}))
    assert torch.equal(before.logits, unchanged.logits)
    ablated = run_job(iter_run(model, sample, {"conv2": list(range(32))}))
    assert ablated.prediction()["label"] != before.prediction()["label"] or not torch.allclose(
        ablated.probabilities, before.probabilities, atol=1e-3
    )
    assert float(ablated.layer("conv2").output.abs().max()) == 0.0
    assert torch.equal(ablated.layer("conv1").output, before.layer("conv1").output)
    one = run_job(iter_run(model, sample, {"conv2": [3]}))
    assert (
        float(one.layer("conv2").output[3].abs().max()) == 0.0
        and one.layer("conv2").output[4].abs().max() > 0
    )


def test_cli_ablation_reports_before_and_after(mnist_root, capsys):
    code, out, _ = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--ablate", "conv2:" + ",".join(map(str, range(32))),
                           "--json")  # fmt: skip
    report = json.loads(out)
    assert code == 0 and report["ablated"] == {"conv2": list(range(32))}
    assert report["prediction"]["probabilities"] != report["prediction_before"]["probabilities"]


def test_out_writes_one_png_per_layer(mnist_root, tmp_path, capsys):
    out_dir = tmp_path / "maps"
    code, out, _ = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--out", out_dir)
    assert code == 0
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(
        ["conv1.png", "bn1.png", "pool.png", "conv2.png", "pool#2.png", "fc1.png", "fc2.png"]
    )
    assert Image.open(out_dir / "conv2.png").size[0] >= 256


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--mnist-root", "{empty}"], "no MNIST test split"),
        (["--mnist-root", "{mnist}", "--index", "10000"], "out of range"),
        (["--image", "{nowhere}"], "no such image"),
        (["--mnist-root", "{mnist}", "--ablate", "conv2"], "LAYER:CH"),
        (["--mnist-root", "{mnist}", "--ablate", "nolayer:1"], "no layer named"),
        (["--mnist-root", "{mnist}", "--ablate", "conv2:99"], "channel 99 does not exist"),
    ],
)
def test_errors_are_one_line(args, needle, mnist_root, tmp_path, capsys):
    filled = [a.format(empty=tmp_path, mnist=mnist_root, nowhere=tmp_path / "x.png") for a in args]
    code, _, err = run_cli(capsys, DEMO, *filled)
    assert code == 1 and err.startswith("error:") and needle in err and len(err.strip().splitlines()) == 1


def test_shapes_that_do_not_fit_the_model(tmp_path):
    model = prepare_model(load_checkpoint(DEMO), "cpu")
    with pytest.raises(InspectorError, match="cannot run an input"):
        run_features(model.module, torch.zeros(1, 3, 20, 20))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_asked_for_without_a_gpu_is_an_error(mnist_root, capsys):
    code, _, err = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--device", "cuda")
    assert code == 1 and "no CUDA GPU" in err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cpu_and_cuda_feature_maps_agree(mnist_root):
    ckpt = load_checkpoint(DEMO)
    sample = MnistSamples(mnist_root).sample(0)
    cpu = run_job(iter_run(prepare_model(ckpt, "cpu"), sample))
    gpu = run_job(iter_run(prepare_model(ckpt, "cuda"), sample))
    assert gpu.device.startswith("cuda")
    for a, b in zip(cpu.layers, gpu.layers, strict=True):
        assert a.name == b.name and torch.allclose(a.output, b.output.float(), atol=1e-4, rtol=1e-3), a.name
    assert torch.allclose(cpu.probabilities, gpu.probabilities, atol=1e-5)


def test_hooks_are_removed_even_on_error():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2))
    with pytest.raises(InspectorError):
        run_job(iter_features(model, torch.zeros(1, 1, 5, 5)))
    assert all(not m._forward_hooks for _, m in leaf_modules(model))


def test_json_has_every_key_the_issue_names(mnist_root, capsys):
    code, out, _ = run_cli(capsys, DEMO, "--mnist-root", mnist_root, "--index", 3, "--json")
    report = json.loads(out)
    assert code == 0
    assert {"model_source", "device", "input_shape", "prediction", "layers", "timing_ms"} <= report.keys()
    assert {"label", "probabilities", "top"} <= report["prediction"].keys()
    assert all(top.keys() == {"label", "name", "probability"} for top in report["prediction"]["top"])
    assert [t["probability"] for t in report["prediction"]["top"]] == sorted(
        (t["probability"] for t in report["prediction"]["top"]), reverse=True
    )
    assert all(
        layer.keys() >= {"name", "type", "output_shape", "min", "max", "mean"} for layer in report["layers"]
    )
    assert report["timing_ms"].keys() >= {"forward", "total"}
    conv1 = report["layers"][0]
    assert conv1["min"] <= conv1["mean"] <= conv1["max"]


def test_remembered_root_is_the_default_and_none_at_all_is_one_line(mnist_root, capsys):
    code, _, err = run_cli(capsys, DEMO)  # nothing remembered, empty cache folder
    assert code == 1 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "no MNIST test split" in err and "cache" in err
    assert run_cli(capsys, DEMO, "--mnist-root", mnist_root)[0] == 0
    code, out, _ = run_cli(capsys, DEMO, "--index", 1, "--json")  # the root used last time
    assert code == 0 and json.loads(out)["true_label"] == 2


def test_cli_input_that_does_not_fit_the_model_is_one_line(tmp_path, digit_png, capsys):
    source = tmp_path / "small.py"
    source.write_text(MODEL_FILE.replace("width * 28 * 28", "width * 14 * 14"))
    namespace: dict = {}
    exec(source.read_text(), namespace)
    path = tmp_path / "small.pth"
    torch.save(namespace["TinyConvNet"]().state_dict(), path)
    code, _, err = run_cli(
        capsys, path, "--model-class", f"{source}:TinyConvNet", "--trust", "--image", digit_png
    )
    assert code == 1 and "cannot run an input of (1, 1, 28, 28)" in err and len(err.strip().splitlines()) == 1
