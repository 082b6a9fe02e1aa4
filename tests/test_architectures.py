"""Weights are matched to an architecture we can build, so state dicts run without trusting the file."""

import checkpoint_factory as factory
import pytest
import torch
import torchvision

from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.errors import InspectorError, TrustRequiredError
from inspector.core.models.resolve import build_module


@pytest.fixture(scope="module")
def resnet18_path(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("r18") / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


def test_resnet18_state_dict_is_resolved_with_kinds(resnet18_path):
    ckpt = load_checkpoint(resnet18_path)
    assert ckpt.architecture == "resnet18"
    assert ckpt.entry("conv1.weight").kind == "parameter" and ckpt.entry("conv1.weight").requires_grad
    assert ckpt.entry("bn1.running_mean").kind == "buffer"
    assert ckpt.module_classes["layer1.0.conv1"] == "torch.nn.modules.conv.Conv2d"
    assert ckpt.totals.parameters == 11_689_512 and not ckpt.totals.parameters_estimated


def test_resolved_module_carries_the_files_weights(resnet18_path):
    ckpt = load_checkpoint(resnet18_path)
    resolved = build_module(ckpt)
    assert resolved.source == "architecture" and resolved.input_size == (3, 224, 224)
    assert torch.equal(resolved.module.fc.weight, ckpt.tensor("fc.weight"))
    assert not resolved.module.training


def test_classifier_width_is_read_from_weights(tmp_path):
    path = factory.write(tmp_path, "mv2.pth", torchvision.models.mobilenet_v2(num_classes=7).state_dict())
    ckpt = load_checkpoint(path)
    assert ckpt.architecture == "mobilenet_v2"
    assert build_module(ckpt).module(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_untrusted_pickled_torchvision_module_runs_from_our_code(tmp_path):
    path = factory.write(tmp_path, "sq.pth", torchvision.models.squeezenet1_1(num_classes=5))
    ckpt = load_checkpoint(path)
    assert ckpt.format == "pickled_module" and not ckpt.trusted
    assert ckpt.architecture == "squeezenet1_1"
    assert build_module(ckpt).module(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_prefixed_lightning_weights_resolve(tmp_path):
    sd = torchvision.models.resnet18(num_classes=3).state_dict()
    path = factory.write(tmp_path, "l.ckpt", {"state_dict": {f"model.{k}": v for k, v in sd.items()},
                                              "pytorch-lightning_version": "2.0"})  # fmt: skip
    ckpt = load_checkpoint(path)
    assert ckpt.architecture == "resnet18"
    assert ckpt.entry("state_dict/model.fc.weight").kind == "parameter"


def test_unknown_state_dict_needs_an_architecture(tmp_path):
    ckpt = load_checkpoint(factory.write_state_dict(tmp_path))
    assert ckpt.architecture is None
    with pytest.raises(InspectorError, match="architecture"):
        build_module(ckpt)


def test_untrusted_custom_module_asks_for_trust(tmp_path):
    ckpt = load_checkpoint(factory.write_pickled_module(tmp_path))
    with pytest.raises(TrustRequiredError) as err:
        build_module(ckpt)
    assert any(g.endswith("TinyNet") for g in err.value.globals_referenced)


def test_trusted_torchscript_runs(tmp_path):
    ckpt = load_checkpoint(factory.write_torchscript(tmp_path), trust=True)
    resolved = build_module(ckpt)
    assert resolved.source == "trusted_torchscript"
    assert resolved.module(torch.randn(1, 1, 4, 4)).shape == (1, 3)
