"""Fine-tuning throughput: the app's training loop against a bare PyTorch loop, side by side in one run.

Same model (the demo MNIST CNN, convs frozen), same data (synthetic MNIST-shaped uint8 images already on the
device), same batch size and device. The app's loop is ``inspector.core.training.loop.iter_finetune`` driven by
``run_job`` (it preprocesses each batch from uint8 as the app does); the bare loop is the textbook one on
pre-normalised floats. Prints images/s of each, per repeat, and the median ratio (target >= 0.9).

    python benchmarks/bench_finetune.py [--device cpu|cuda] [--images 8192] [--batch-size 128] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from inspector.core.data.preprocess import MNIST_MEAN, MNIST_STD, Preprocess  # noqa: E402
from inspector.core.jobs import run_job  # noqa: E402
from inspector.core.models.demo import MnistCNN  # noqa: E402
from inspector.core.training.datasets import ImageSet, TrainingData, batch_preprocess  # noqa: E402
from inspector.core.training.distributed import World  # noqa: E402
from inspector.core.training.freeze import plan_freeze  # noqa: E402
from inspector.core.training.loop import FinetuneRun, iter_finetune  # noqa: E402
from inspector.core.training.settings import FinetuneSettings  # noqa: E402

FREEZE = ["conv1", "bn1", "conv2"]


def app_loop(images, labels, val, device, batch_size) -> float:
    torch.manual_seed(0)
    model = MnistCNN().to(device)
    preprocess = Preprocess(1, (28, 28), MNIST_MEAN, MNIST_STD)
    data = TrainingData("mnist", "synthetic", ImageSet(images, labels), val, tuple("0123456789"), "")
    settings = FinetuneSettings(data="mnist:synthetic", freeze=tuple(FREEZE), batch_size=batch_size)
    run = FinetuneRun(model, plan_freeze(model, FREEZE), data, batch_preprocess(preprocess), settings, device,
                      World())  # fmt: skip
    result = run_job(iter_finetune(run))
    return result.samples_per_second


def bare_loop(images, labels, device, batch_size) -> float:
    torch.manual_seed(0)
    model = MnistCNN().to(device)
    for name in FREEZE:
        for p in getattr(model, name).parameters():
            p.requires_grad_(False)
    model.train()
    model.bn1.eval()
    x_all = ((images.float() / 255 - MNIST_MEAN[0]) / MNIST_STD[0]).unsqueeze(1)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(len(images), device=device)
    _sync(device)
    start = time.perf_counter()
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x_all[idx]), labels[idx])
        loss.backward()
        opt.step()
    _sync(device)
    return len(order) / (time.perf_counter() - start)


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (args.images, 28, 28), generator=g, dtype=torch.uint8).to(device)
    labels = torch.randint(0, 10, (args.images,), generator=g).to(device)
    val = ImageSet(images[:256], labels[:256])
    print(f"torch {torch.__version__}, device {device}, {args.images} images, batch {args.batch_size}, "
          f"threads {torch.get_num_threads()}")  # fmt: skip
    app_loop(images[:512], labels[:512], val, device, args.batch_size)  # warm-up
    bare_loop(images[:512], labels[:512], device, args.batch_size)
    ratios, apps, bares = [], [], []
    for r in range(args.repeats):
        bare = bare_loop(images, labels, device, args.batch_size)
        app = app_loop(images, labels, val, device, args.batch_size)
        apps.append(app)
        bares.append(bare)
        ratios.append(app / bare)
        print(f"  repeat {r + 1}: app {app:9.0f} img/s   bare {bare:9.0f} img/s   ratio {app / bare:.3f}")
    print(f"median: app {statistics.median(apps):.0f} img/s, bare {statistics.median(bares):.0f} img/s, "
          f"ratio {statistics.median(ratios):.3f} (target >= 0.9)")  # fmt: skip


if __name__ == "__main__":
    main()
