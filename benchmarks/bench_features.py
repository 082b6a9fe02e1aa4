"""Feature maps (issue 8): inspector's capture pass vs. the same forward hooks written by hand, and render time.

    python benchmarks/bench_features.py [--repeats 20] [--warmup 3] [--inner 5] [--only demo resnet18] [--json OUT]

Per model, in one process, the two sides run in alternating blocks (``--inner`` runs of one side, then of the
other; which goes first alternates from round to round) on the same input:

* inspector: ``capture.run_features(module, x)``: a forward hook on every leaf module, the pass under
  ``torch.inference_mode()``, outputs cloned when the model has in-place layers, copied to the CPU, hooks removed
  in ``finally``, the logits and every layer as a ``LayerOutput``;
* by hand: the same hooks written the plain way (``register_forward_hook`` on every leaf, ``o.detach().clone()``
  into a list, ``.cpu()`` each), ``model(x)`` under ``torch.inference_mode()``, hooks removed.

Then, separately, the render time of every layer's picture as the GUI and ``features --out`` make it
(``feature_mosaic(out).rgb()`` for maps, ``bars_rgb`` for vectors), and forward + mosaics together (the sum of
the two medians), which is what
the targets are about. Models: the demo MNIST CNN from ``resources/demo_mnist_cnn.pth`` (through
``prepare_model``, as the app builds it) on a 1x1x28x28 input, and torchvision's resnet18 with seeded random
weights on a 1x3x224x224 input. Inputs are seeded ``torch.randn``; nothing is written anywhere unless ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_RATIO = 1.2
TARGETS_MS = {"demo": 50.0, "resnet18": 500.0}  # forward + capture + every layer's mosaic


def build(name: str):
    """(module on the CPU in eval mode, input) for a model name."""
    import torch

    torch.manual_seed(0)
    if name == "demo":
        from inspector.core.activations.features import prepare_model
        from inspector.core.checkpoint.loader import load_checkpoint

        module = prepare_model(load_checkpoint(REPO / "resources" / "demo_mnist_cnn.pth"), "cpu").module
        return module, torch.randn(1, 1, 28, 28)
    import torchvision

    return torchvision.models.resnet18(weights=None).eval(), torch.randn(1, 3, 224, 224)


def inspector_side(module, x):
    from inspector.core.activations.capture import run_features

    return run_features(module, x, "cpu")


def by_hand_side(module, x):
    """The few lines a person writes to keep every leaf layer's output."""
    import torch

    outputs, handles = [], []
    leaves = [m for n, m in module.named_modules() if n and not any(True for _ in m.children())]
    for leaf in leaves:
        handles.append(leaf.register_forward_hook(lambda _m, _i, o: outputs.append(o.detach().clone())))
    try:
        with torch.inference_mode():
            logits = module(x)
    finally:
        for handle in handles:
            handle.remove()
    return [o.cpu() for o in outputs], logits.cpu()


def render_all(result) -> int:
    """Every layer's picture, as the GUI draws it; returns the pixels made (so nothing is optimised away)."""
    from inspector.core.render.feature_maps import bars_rgb, feature_mosaic

    pixels = 0
    for layer in result.layers:
        out = layer.output
        rgb = bars_rgb(out.reshape(-1)) if out.ndim <= 1 else feature_mosaic(out).rgb()
        pixels += rgb.shape[0] * rgb.shape[1]
    return pixels


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return (time.perf_counter() - start) * 1000, result


def measure(name: str, repeats: int, warmup: int, inner: int = 5) -> dict:
    """``warmup + repeats`` rounds; in each, ``inner`` runs of one side back to back, then of the other (which goes
    first alternates), so both see the same cache state. Rendering is timed afterwards, on its own."""
    import torch

    module, x = build(name)
    sides = (("inspector", inspector_side), ("by_hand", by_hand_side))
    runs = {"inspector": [], "by_hand": [], "render": []}
    for i in range(warmup + repeats):
        for side, function in sides if i % 2 == 0 else sides[::-1]:
            for _ in range(inner):
                ms, result = timed(function, module, x)
                if i >= warmup:
                    runs[side].append(ms)
                if side == "inspector":
                    inspector_result = result
                else:
                    hand_outputs, hand_logits = result
    for i in range(warmup + repeats):
        render_ms, pixels = timed(render_all, inspector_result)
        if i >= warmup:
            runs["render"].append(render_ms)
    pairs = list(zip(hand_outputs, inspector_result.layers, strict=False))
    same = len(hand_outputs) == len(inspector_result.layers) and all(
        torch.equal(a.reshape(-1), b.output.reshape(-1)) for a, b in pairs
    ) and torch.equal(hand_logits.reshape(-1), inspector_result.logits)  # fmt: skip
    medians = {side: statistics.median(ms) for side, ms in runs.items()}
    medians["forward_and_render"] = medians["inspector"] + medians["render"]
    return {
        "model": name, "input": list(x.shape), "layers": len(inspector_result.layers), "pixels": pixels,
        "same_outputs": same, "medians_ms": medians, "ratio": medians["inspector"] / medians["by_hand"],
        "runs_ms": runs,
    }  # fmt: skip


def report(rows: list[dict], threads: int) -> bool:
    import torch

    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{threads} torch threads; medians in ms")  # fmt: skip
    print(f"{'model':<10} {'layers':>6} {'inspector':>10} {'by hand':>9} {'ratio':>7} {'render':>8} "
          f"{'fwd+render':>11} {'target':>7}  same outputs")  # fmt: skip
    ok = True
    for row in rows:
        m = row["medians_ms"]
        target = TARGETS_MS[row["model"]]
        passed = row["ratio"] <= TARGET_RATIO and m["forward_and_render"] < target
        ok &= passed and row["same_outputs"]
        print(f"{row['model']:<10} {row['layers']:>6} {m['inspector']:>10.2f} {m['by_hand']:>9.2f} "
              f"{row['ratio']:>6.2f}x {m['render']:>8.2f} {m['forward_and_render']:>11.2f} {target:>7.0f}  "
              f"{row['same_outputs']}  {'PASS' if passed else 'FAIL'}")  # fmt: skip
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="counted rounds (default 20)")
    parser.add_argument("--inner", type=int, default=5, help="runs of one side per round (default 5)")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted runs first (default 3)")
    parser.add_argument("--only", nargs="+", choices=sorted(TARGETS_MS), help="run only these models")
    parser.add_argument("--json", type=Path, help="also write the raw runs and medians here")
    args = parser.parse_args(argv)
    import torch

    rows = [measure(name, args.repeats, args.warmup, args.inner) for name in (args.only or list(TARGETS_MS))]
    ok = report(rows, torch.get_num_threads())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
