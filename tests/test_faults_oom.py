"""Out of GPU memory in a forward pass or a training step, simulated: one message, memory released, usable."""

import weakref

import pytest
import torch
from PIL import Image

from inspector.cli import main
from inspector.core.activations.capture import run_features
from inspector.core.errors import InspectorError, OutOfDeviceMemoryError
from inspector.core.models.demo import MnistCNN
from inspector.core.models.device import out_of_memory
from tests.finetune_fixtures import write_square_digits, write_untrained_demo

DEMO = "resources/demo_mnist_cnn.pth"
pytestmark = pytest.mark.usefixtures("private_dirs")  # the remembered data root: temporary


def oom_once(monkeypatch, cls=MnistCNN):
    """``cls.forward`` raises torch.OutOfMemoryError on its first call (holding a tensor, as a real failed
    step does), then runs as usual. Returns a list that receives a weak reference to that tensor."""
    real = cls.forward
    held: list = []

    def forward(self, x):
        if not held:
            activations = torch.ones(256, 256)
            held.append(weakref.ref(activations))
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(self, x)

    monkeypatch.setattr(cls, "forward", forward)
    return held


def test_the_handler_names_the_cpu_and_releases_the_cache(monkeypatch):
    emptied = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(True))
    kept = [torch.ones(8)]
    guard = out_of_memory("cuda:0", "for an input of (1, 3)", "run it with --device cpu", release=kept.clear)
    with pytest.raises(OutOfDeviceMemoryError) as err, guard:
        raise torch.OutOfMemoryError("CUDA out of memory")
    assert err.value.message == (
        "out of GPU memory on cuda:0 for an input of (1, 3); the memory was released; run it with --device cpu"
    )
    assert err.value.device == "cuda:0" and emptied == [True] and kept == []


def test_a_forward_pass_out_of_memory_is_one_message_and_the_next_run_works(monkeypatch):
    held = oom_once(monkeypatch)
    module = MnistCNN().eval()
    x = torch.zeros(1, 1, 28, 28)
    with pytest.raises(OutOfDeviceMemoryError) as err:
        run_features(module, x)
    assert err.value.message.startswith("out of GPU memory on cpu for an input of (1, 1, 28, 28)")
    assert "the memory was released" in err.value.message and "--device cpu" in err.value.message
    assert held[0]() is None  # the failed pass's tensors are gone, not kept alive by the traceback
    result = run_features(module, x)  # the model is usable: the retry runs
    assert [layer.name for layer in result.layers][:2] == ["conv1", "bn1"]


def test_cli_features_out_of_memory_names_device_cpu(monkeypatch, tmp_path, capsys):
    oom_once(monkeypatch)
    image = tmp_path / "blank.png"
    Image.new("L", (28, 28), 0).save(image)
    assert main(["features", DEMO, "--image", str(image)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: out of GPU memory on cpu") and "--device cpu" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["features", DEMO, "--image", str(image), "--device", "cpu", "--json"]) == 0  # the retry


def test_cli_finetune_out_of_memory_names_device_cpu_and_saves_nothing(monkeypatch, tmp_path, capsys):
    oom_once(monkeypatch)
    data_root = write_square_digits(tmp_path / "squares", n=200)
    base = write_untrained_demo(tmp_path)
    out = tmp_path / "tuned.pth"
    args = ["finetune", str(base), "--data", f"mnist:{data_root}", "--limit", "128", "--batch-size", "64",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 1
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: {base}: out of GPU memory on cpu") and "--device cpu" in err
        and "Traceback" not in err
    )  # fmt: skip
    assert not out.exists()
    assert main([*args, "--device", "cpu"]) == 0 and out.exists()


def test_out_of_device_memory_is_an_inspector_error():
    assert issubclass(OutOfDeviceMemoryError, InspectorError)
