"""Files of the shapes people download (Ultralytics YOLO, numpy inside, plain pickles), written here.

The YOLO-like file has what real Ultralytics checkpoints carry: classes from a package that is not installed
(stubbed), a ``builtins.getattr(Detect, "forward")`` method reference, tensors kept as plain module attributes
(``stride``, ``anchors``, ``strides``), fp16 weights, an EMA slot, ``train_args`` and ``train_metrics``.
"""

import json
import pickle
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from inspector.core.checkpoint.loader import load_checkpoint

HEAD = "ultralytics.nn.modules.head"
TASKS = "ultralytics.nn.tasks"


def _fake_package(monkeypatch):
    """Classes under Ultralytics' module names, importable only while the file is written."""
    modules = {}
    for name in (
        "ultralytics",
        "ultralytics.nn",
        "ultralytics.nn.modules",
        HEAD,
        TASKS,
        "ultralytics.nn.modules.conv",
    ):
        modules[name] = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, modules[name])

    class Conv(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.bn = nn.BatchNorm2d(4)

    class Detect(nn.Module):
        def __init__(self):
            super().__init__()
            self.cv2 = nn.Conv2d(4, 8, 1)
            self.stride = torch.tensor([8.0, 16.0, 32.0])
            self.anchors = torch.zeros(2, 21)
            self.strides = torch.ones(1, 21)
            self.forward_impl = Detect.forward  # pickled (protocol 2) as builtins.getattr(Detect, "forward")

        def forward(self, x):
            return self.cv2(x)

    class DetectionModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(Conv(), Detect())
            self.stride = torch.tensor([8.0, 16.0, 32.0])
            self.names = {0: "person", 1: "bicycle"}

    for cls, module in ((Conv, "ultralytics.nn.modules.conv"), (Detect, HEAD), (DetectionModel, TASKS)):
        cls.__module__, cls.__qualname__ = module, cls.__name__
        if "forward" in vars(cls):
            cls.forward.__module__, cls.forward.__qualname__ = module, f"{cls.__name__}.forward"
        setattr(modules[module], cls.__name__, cls)
    return DetectionModel


@pytest.fixture
def yolo_file(tmp_path, monkeypatch):
    model_class = _fake_package(monkeypatch)
    torch.manual_seed(0)
    path = tmp_path / "yolo11n-seg.pt"
    torch.save({
        "date": "2024-09-30T12:00:00", "version": "8.3.0", "license": "AGPL-3.0 License",
        "docs": "https://docs.ultralytics.com", "epoch": -1, "best_fitness": None,
        "model": model_class().half(), "ema": None, "updates": None, "optimizer": None,
        "train_args": {"epochs": 100, "imgsz": 640, "data": "coco8-seg.yaml", "batch": 16},
        "train_metrics": {"metrics/mAP50(B)": 0.51},
    }, path)  # fmt: skip
    monkeypatch.undo()  # the package is gone again: nothing can import it while the file is read
    return path


def test_yolo_file_lists_without_running_anything(yolo_file):
    assert "ultralytics" not in sys.modules
    ckpt = load_checkpoint(yolo_file)
    assert "builtins.getattr" in ckpt.globals_referenced
    assert f"{HEAD}.Detect" in ckpt.stubbed_globals
    assert "ultralytics" not in sys.modules
    by_name = {e.name: e for e in ckpt.entries}
    assert by_name["model.0.conv.weight"].dtype == "float16"
    assert by_name["model.0.conv.weight"].kind == "parameter"
    assert by_name["model.0.bn.running_mean"].kind == "buffer"
    for name, shape in (("model.1.stride", (3,)), ("model.1.anchors", (2, 21)), ("model.1.strides", (1, 21)),
                        ("stride", (3,))):  # fmt: skip
        assert by_name[name].kind == "attribute" and by_name[name].shape == shape, name
    assert ckpt.tensor(by_name["model.1.stride"]).tolist() == [8.0, 16.0, 32.0]


def test_yolo_metadata_and_classes_are_shown(yolo_file):
    ckpt = load_checkpoint(yolo_file)
    meta = ckpt.metadata
    assert meta["version"] == "8.3.0" and meta["license"] == "AGPL-3.0 License"
    assert meta["train_args"]["epochs"] == 100 and meta["train_args"]["imgsz"] == 640
    assert meta["train_metrics"]["metrics/mAP50(B)"] == pytest.approx(0.51)
    classes = ckpt.module_classes
    assert classes["model"].endswith("tasks.DetectionModel")
    assert classes["model/model.1"] == f"{HEAD}.Detect"
    assert ckpt.class_of("model", "model.0") == "ultralytics.nn.modules.conv.Conv"  # what the tree shows
    assert ckpt.class_of("model", "").endswith("DetectionModel")
    json.dumps(ckpt.to_json(), allow_nan=False)


def test_getattr_on_a_real_object_is_refused(tmp_path):
    # builtins.getattr(collections.OrderedDict, "fromkeys"): a real attribute, the classic gadget
    payload = b"\x80\x02cbuiltins\ngetattr\nccollections\nOrderedDict\nX\x08\x00\x00\x00fromkeys\x86R."
    path = tmp_path / "gadget.pkl"
    path.write_bytes(payload)
    with pytest.raises(Exception) as err:
        load_checkpoint(path)
    assert "getattr() on a real object" in str(err.value)


def test_numpy_values_are_marked_and_plain_pickles_said(tmp_path):
    path = tmp_path / "with_numpy.pt"
    torch.save({"w": torch.ones(2), "config": {"shift": np.arange(3.0), "scale": np.float32(2.0)}}, path)
    ckpt = load_checkpoint(path)
    kinds = {e.name: e.kind for e in ckpt.entries}
    assert kinds["w"] == "tensor" and kinds["shift"] == "numpy"
    plain = tmp_path / "arrays.pkl"
    plain.write_bytes(pickle.dumps({"a": np.arange(4, dtype=np.int16)}))
    ckpt = load_checkpoint(plain)
    assert ckpt.container == "pickle" and "plain pickle" in ckpt.metadata["file_kind"]
    assert ckpt.entries[0].kind == "numpy" and ckpt.tensor(ckpt.entries[0]).tolist() == [0, 1, 2, 3]
