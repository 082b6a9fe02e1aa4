"""The signature table agrees with torchvision, and recognising a file through it never imports torchvision."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from inspector.core.models.architectures import by_name, candidates
from inspector.core.models.signatures import load_signatures, read_table, shape_digest

REPO = Path(__file__).resolve().parents[1]
FAST_CHECK = ("mnist_cnn", "resnet18", "mobilenet_v2", "vgg11")


def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_signatures", REPO / "scripts/gen_architecture_signatures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _regenerated(names):
    gen = _generator()
    builders = gen.builders()
    entries = {n: gen.signature(n, *builders[n]) for n in names}
    return gen.compact(entries)


def _expand(table: dict, name: str) -> dict:
    entry = dict(table["architectures"][name])
    entry["modules"] = {path: table["classes"][i] for path, i in entry["modules"].items()}
    return entry


@pytest.mark.parametrize("name", FAST_CHECK)
def test_table_matches_a_fresh_build(name):
    fresh = _regenerated([name])
    assert _expand(fresh, name) == _expand(read_table(), name)


@pytest.mark.slow
def test_whole_table_matches_torchvision():
    gen = _generator()
    fresh = _regenerated(list(gen.builders()))
    table = read_table()
    assert sorted(fresh["architectures"]) == sorted(table["architectures"])
    for name in fresh["architectures"]:
        assert _expand(fresh, name) == _expand(table, name), name


def test_digests_are_unique_and_width_free():
    sigs = load_signatures()
    assert len({s.digest for s in sigs.values()}) == len(sigs)
    r18 = sigs["resnet18"]
    assert r18.num_classes == 1000 and r18.classifier == "fc.weight" and r18.input_size == (3, 224, 224)
    assert sigs["inception_v3"].input_size == (3, 299, 299)
    assert shape_digest({"fc.weight": (7, 512)}, [("fc.weight", 0)]) == shape_digest(
        {"fc.weight": (3, 512)}, [("fc.weight", 0)]
    )


def _shapes(model) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_any_classifier_width_matches_but_not_a_changed_layer():
    import torchvision

    with torch.device("meta"):
        shapes = _shapes(torchvision.models.resnet18(num_classes=5))
    assert [a.name for a in candidates(shapes)] == ["resnet18"]
    assert by_name("resnet18").width_of(shapes) == 5
    assert candidates({**shapes, "conv1.weight": (64, 1, 7, 7)}) == []
    assert candidates({k: v for k, v in shapes.items() if k != "fc.bias"}) == []
    assert candidates({**shapes, "fc.bias": (6,)}) == []  # weight and bias disagree on the width


CHILD = """
import sys
from inspector.cli import main
try:
    main(["list", sys.argv[1]])
except SystemExit:
    pass
print("torchvision imported:", "torchvision" in sys.modules)
"""


def test_list_recognises_resnet18_without_importing_torchvision(tmp_path):
    import torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, cwd=REPO,
                          timeout=120, check=True)  # fmt: skip
    assert "architecture resnet18" in done.stdout.splitlines()[0]
    assert "bn1.running_mean" in done.stdout and "buffer" in done.stdout
    assert done.stdout.strip().endswith("torchvision imported: False")
