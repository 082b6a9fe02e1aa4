"""``inspector features FILE [--model-class PATH:CLASS] [--trust] [--mnist-root DIR] [--index N | --image PNG]
[--device auto|cpu|cuda] [--ablate LAYER:CH[,CH...]] [--out DIR] [--json]``.

Runs one input through the model with a hook on every leaf layer (see :mod:`inspector.core.activations`) and
prints the prediction and every layer's output shape and range; ``--out DIR`` writes one PNG per layer (channels
as a mosaic, vectors as bars); ``--ablate`` zeroes output channels of a layer and shows the prediction before and
after. The model comes from a known architecture, the file's own module (``--trust``) or ``--model-class``.
"""

from __future__ import annotations

import json
import os
import sys

from inspector.commands.common import add_file_argument, load_or_fail


def add_parser(sub) -> None:
    p = sub.add_parser("features", help="run an input through the model and show every layer's output")
    add_file_argument(p)
    p.add_argument("--model-class", metavar="PATH:CLASS", help="the class that defines a bare state dict's model "
                   "(path/to/file.py:ClassName); importing the file runs it, so it needs --trust")  # fmt: skip
    p.add_argument("--mnist-root", metavar="DIR", help="data root in torchvision's layout (default: the last "
                   "one used, else $XDG_CACHE_HOME/inspector/data)")  # fmt: skip
    which = p.add_mutually_exclusive_group()
    which.add_argument("--index", type=int, metavar="N", help="MNIST test image N (default 0)")
    which.add_argument("--image", metavar="PNG", help="an image file (PNG, JPEG, BMP) instead of MNIST")
    p.add_argument("--device", default="auto", metavar="auto|cpu|cuda", help="where to run (default: auto)")
    p.add_argument("--ablate", action="append", metavar="LAYER:CH[,CH...]",
                   help="zero these output channels of LAYER and re-run (repeatable)")  # fmt: skip
    p.add_argument("--out", metavar="DIR", help="write one PNG per layer into DIR")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=run)


def _sample(args):
    from inspector.core.activations.features import MnistSamples, image_input
    from inspector.core.data.data_root import remember_data_root, resolve_data_root

    if args.image:
        return image_input(args.image)
    root = resolve_data_root(args.mnist_root)
    samples = MnistSamples(root)
    sample = samples.sample(args.index if args.index is not None else 0)
    if args.mnist_root:
        remember_data_root(root)
    return sample


def run(args) -> int:
    from inspector.core.activations.features import iter_run, parse_ablation, prepare_model
    from inspector.core.jobs import run_job

    ablate = parse_ablation(args.ablate)
    ckpt = load_or_fail(args.file, trust=args.trust)
    model = prepare_model(ckpt, args.device, args.model_class, trust_class=args.trust)
    sample = _sample(args)
    labels = model.preprocess.labels
    result = run_job(iter_run(model, sample))
    report = _report(model, sample, result, labels)
    if ablate:
        after = run_job(iter_run(model, sample, ablate))
        report["ablated"] = {k: v for k, v in ablate.items()}
        report["prediction_before"] = report["prediction"]
        report["prediction"] = after.prediction(labels)
        report["layers"] = [layer.summary() for layer in after.layers]
        result = after
    if args.out:
        report["pictures"] = _write_pictures(result, args.out)
    if args.json:
        json.dump(report, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        _print_text(report)
    return 0


def _report(model, sample, result, labels) -> dict:
    return {
        "model_source": model.resolved.source,
        "model": model.resolved.description,
        "device": result.device,
        "input": sample.source,
        "true_label": sample.true_label,
        "input_shape": list(result.input_shape),
        "preprocess": model.preprocess.to_json(),
        "prediction": result.prediction(labels),
        "layers": [layer.summary() for layer in result.layers],
        "timing_ms": {"forward": round(result.forward_ms, 3), "total": round(result.total_ms, 3)},
    }


def _write_pictures(result, folder: str) -> list[str]:
    from inspector.core.errors import InspectorError
    from inspector.core.render import save_png, upscale
    from inspector.core.render.feature_maps import bars_rgb, feature_mosaic

    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise InspectorError(
            f"{folder}: cannot create the folder ({exc.strerror}); choose a writable one"
        ) from None
    written = []
    for layer in result.layers:
        out = layer.output
        rgb = bars_rgb(out.reshape(-1)) if out.ndim <= 1 else upscale(feature_mosaic(out).rgb(), 256, 2048)
        path = os.path.join(folder, f"{layer.name}.png")
        save_png(rgb, path)
        written.append(path)
    return written


def _print_text(report: dict) -> None:
    pred = report["prediction"]
    truth = "" if report["true_label"] is None else f" (true label {report['true_label']})"
    print(f"model: {report['model']}")
    print(f"input: {report['input']}{truth}, {report['preprocess']['description']}")
    if "prediction_before" in report:
        before = report["prediction_before"]
        print(f"prediction before ablation: {before['name']} ({before['top'][0]['probability']:.1%})")
        print(f"ablated: {', '.join(f'{k}:{v}' for k, v in report['ablated'].items())}")
    print(f"prediction: {pred['name']} ({pred['top'][0]['probability']:.1%})   top: "
          + ", ".join(f"{t['name']} {t['probability']:.1%}" for t in pred["top"]))  # fmt: skip
    print(f"device: {report['device']}, forward {report['timing_ms']['forward']:.2f} ms, "
          f"total {report['timing_ms']['total']:.2f} ms")  # fmt: skip
    width = max((len(layer["name"]) for layer in report["layers"]), default=4)
    type_width = max((len(layer["type"]) for layer in report["layers"]), default=4)  # AdaptiveAvgPool2d
    for layer in report["layers"]:
        shape = "x".join(map(str, layer["output_shape"]))
        print(f"  {layer['name']:<{width}}  {layer['type']:<{type_width}}  {shape:<14} min {_g(layer['min'])}  "
              f"max {_g(layer['max'])}  mean {_g(layer['mean'])}")  # fmt: skip
    for path in report.get("pictures", []):
        print(f"wrote {path}")


def _g(x) -> str:
    return "n/a" if x is None else f"{x:.4g}"
