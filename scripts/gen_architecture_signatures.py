"""Write ``inspector/core/models/signatures.json.gz``: what every architecture we can build looks like as a state dict.

    python scripts/gen_architecture_signatures.py [--out PATH] [--only NAME ...]

Recognising a torchvision architecture by building candidate models costs an import of ``torchvision.models``
(~2 s) on every start. Instead the matcher reads this table, made once here from the real classes (on the
``meta`` device, so no weights are allocated): per architecture a digest of its sorted ``(key, shape)`` list with
the classifier's width written as ``N``, the positions that width sits at (to read ``num_classes`` off a file's
weights), the buffers (to tell buffers from parameters), the module classes (for the tree) and the input size.
``tests/test_architecture_signatures.py`` rebuilds a few entries and compares them to the table; rerun this
script when torchvision is upgraded.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inspector.core.models.signatures import OUT_PATH, shape_digest, write_table  # noqa: E402

PROBE_CLASSES = 7  # a width no torchvision layer has by chance: the dims that change with it are num_classes


def torchvision_names() -> list[str]:
    import torchvision

    return list(torchvision.models.list_models(module=torchvision.models))


def builders() -> dict[str, tuple[str, tuple[int, ...]]]:
    """name -> (builder "module:callable", input size): our demo model, then every torchvision classifier."""
    import torchvision

    found = {"mnist_cnn": ("inspector.core.models.demo:MnistCNN", (1, 28, 28))}
    for name in torchvision_names():
        crop = torchvision.models.get_model_weights(name).DEFAULT.transforms().crop_size
        side = crop[0] if isinstance(crop, (list, tuple)) else crop
        found[name] = (f"torchvision.models:{name}", (3, int(side), int(side)))
    return found


def build(builder: str, num_classes: int | None):
    """The model on the ``meta`` device; for builders that compute with tensors (RegNet's widths), each
    parameter and buffer is moved there as it is registered instead."""
    import importlib

    import torch

    module_name, _, attr = builder.partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    kwargs = {"num_classes": num_classes} if num_classes else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # GoogLeNet's and Inception's init notices
        try:
            with torch.device("meta"):
                return factory(**kwargs)
        except NotImplementedError:
            with registered_on_meta():
                return factory(**kwargs)


@contextlib.contextmanager
def registered_on_meta():
    from torch import nn

    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter_on_meta(self, name, param):
        if param is not None:
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer_on_meta(self, name, tensor, persistent=True):
        register_buffer(self, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter_on_meta, buffer_on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


def signature(name: str, builder: str, input_size: tuple[int, ...]) -> dict:
    """One table entry, from the default model and one built with ``PROBE_CLASSES`` outputs."""
    model = build(builder, None)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    probe = {k: tuple(v.shape) for k, v in build(builder, PROBE_CLASSES).state_dict().items()}
    assert probe.keys() == shapes.keys(), f"{name}: num_classes changes the keys"
    width_at = [
        [key, dim]
        for key, shape in shapes.items()
        for dim, (a, b) in enumerate(zip(shape, probe[key], strict=True))
        if a != b
    ]
    params = {k for k, _ in model.named_parameters()}
    classes = {path: f"{type(m).__module__}.{type(m).__qualname__}" for path, m in model.named_modules()}
    return {
        "builder": builder,
        "input_size": list(input_size),
        "num_keys": len(shapes),
        "num_classes": shapes[width_at[0][0]][width_at[0][1]] if width_at else None,
        "num_classes_at": width_at,
        "digest": shape_digest(shapes, width_at),
        "buffers": [k for k in shapes if k not in params],
        "modules": classes,
    }


def compact(entries: dict[str, dict]) -> dict:
    """Module class names repeat across models: store each once and refer to it by index."""
    names = sorted({c for e in entries.values() for c in e["modules"].values()})
    index = {c: i for i, c in enumerate(names)}
    for e in entries.values():
        e["modules"] = {path: index[c] for path, c in e["modules"].items()}
    return {"classes": names, "architectures": entries}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT_PATH)
    parser.add_argument("--only", nargs="*", help="architectures to include (default: all)")
    args = parser.parse_args(argv)
    import torch
    import torchvision

    wanted = builders()
    if args.only:
        wanted = {n: wanted[n] for n in args.only}
    entries = {}
    for name, (builder, size) in wanted.items():
        entries[name] = signature(name, builder, size)
        print(f"{name:<24} {entries[name]['num_keys']:5} keys  {entries[name]['digest'][:12]}", flush=True)
    table = {"torch": torch.__version__, "torchvision": torchvision.__version__, **compact(entries)}
    write_table(table, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB, {len(entries)} architectures)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
