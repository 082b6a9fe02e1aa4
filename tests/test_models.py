"""The demo model and the demo checkpoint that ``python main.py`` opens by default."""

import pathlib

import pytest
import torch

from inspector.core.models.demo import MnistCNN, normalize

DEMO = pathlib.Path(__file__).resolve().parents[1] / "resources" / "demo_mnist_cnn.pth"


def test_forward_gives_logits_per_class():
    torch.manual_seed(0)
    model = MnistCNN().eval()
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    x = normalize(images)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert model(x).shape == (5, 10)
    assert MnistCNN(num_classes=3)(x).shape == (5, 3)


def test_model_is_small_and_has_every_layer_kind_the_demo_shows():
    model = MnistCNN()
    assert 80_000 < sum(p.numel() for p in model.parameters()) < 120_000
    kinds = {name: type(module).__name__ for name, module in model.named_children()}
    assert kinds["conv1"] == "Conv2d" and kinds["bn1"] == "BatchNorm2d" and kinds["fc1"] == "Linear"
    assert model.conv1.weight.shape == (16, 1, 3, 3) and model.conv2.weight.shape == (32, 16, 3, 3)


@pytest.fixture
def demo():
    if not DEMO.exists():
        pytest.fail(
            f"{DEMO} is missing; run: python resources/make_demo_checkpoint.py --data ../shared/mnist"
        )
    return torch.load(DEMO, weights_only=True)


def test_demo_checkpoint_is_a_plain_training_checkpoint(demo):
    assert DEMO.stat().st_size < 2_000_000
    assert demo["arch"] == "mnist_cnn" and demo["dataset"] == "MNIST"
    assert demo["input_size"] == [1, 28, 28] and len(demo["classes"]) == 10
    assert {"lr", "batch_size", "epochs"} <= set(demo["hyper_parameters"])
    assert demo["epoch"] == demo["hyper_parameters"]["epochs"]
    assert demo["accuracy"] > 0.9 and demo["loss"] > 0
    assert demo["optimizer_state_dict"]["state"]  # Adam moments are there: the optimizer group has tensors


def test_demo_state_dict_loads_strictly_and_classifies(demo, real_mnist_root):
    mnist_root = real_mnist_root
    from inspector.core.data.mnist import load_mnist_split

    model = MnistCNN()
    model.load_state_dict(demo["model_state_dict"], strict=True)
    images, labels = load_mnist_split(mnist_root, "test")
    with torch.no_grad():
        predictions = model.eval()(normalize(images[:500])).argmax(1)
    assert (predictions == labels[:500]).float().mean() > 0.9  # mostly images it trained on: a smoke check


def test_loader_names_the_demo_architecture():
    from inspector.core.checkpoint.loader import load_checkpoint

    ckpt = load_checkpoint(DEMO)
    assert ckpt.format == "training_checkpoint" and ckpt.architecture == "mnist_cnn"
    assert ckpt.entry("model_state_dict/bn1.running_mean").kind == "buffer"
