"""Train the demo model and save the training checkpoint that ``python main.py`` opens by default.

    python resources/make_demo_checkpoint.py --data ../shared/mnist --out resources/demo_mnist_cnn.pth

Trains :class:`inspector.core.models.demo.MnistCNN` on 8,000 images of whichever MNIST split the data root holds
(the offline copy has only the 10k test split) and evaluates on 2,000 held-out images of the same split. Seeded,
CPU only, well under two minutes. The file is a plain training checkpoint (state dicts, numbers, strings and
lists only) so that it opens with ``torch.load(weights_only=True)`` and shows inspector's grouping of model
weights, optimizer state and metadata.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "mnist"), help="MNIST data root")
    parser.add_argument(
        "--out", default=str(REPO / "resources" / "demo_mnist_cnn.pth"), help="checkpoint to write"
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--train-size", type=int, default=8000)
    parser.add_argument("--eval-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def split_indices(n: int, train_size: int, eval_size: int, seed: int):
    """Disjoint, seeded train and held-out index tensors drawn from ``range(n)``."""
    import torch

    if train_size + eval_size > n:
        raise SystemExit(f"error: the split has {n} images, fewer than {train_size} + {eval_size} asked for")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[:train_size], order[train_size : train_size + eval_size]


def train_epoch(model, optimizer, x, y, batch_size: int, generator) -> float:
    """One pass over ``x``/``y`` in shuffled mini-batches; returns the mean training loss."""
    import torch
    from torch.nn import functional as F

    model.train()
    total, seen = 0.0, 0
    for batch in torch.randperm(len(x), generator=generator).split(batch_size):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[batch]), y[batch])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
        seen += len(batch)
    return total / seen


def evaluate(model, x, y) -> tuple[float, float]:
    """(mean loss, accuracy) of ``model`` on ``x``/``y`` in eval mode."""
    import torch
    from torch.nn import functional as F

    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(chunk) for chunk in x.split(500)])
    return F.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))  # run from a checkout without an install
    import torch

    from inspector.core.data.mnist import CLASSES, available_splits, load_mnist_split
    from inspector.core.models.demo import INPUT_SIZE, MNIST_MEAN, MNIST_STD, MnistCNN, normalize

    torch.manual_seed(args.seed)
    splits = available_splits(args.data)
    split = "train" if "train" in splits else "test"
    images, labels = load_mnist_split(args.data, split)  # raises a clear error when the root holds neither
    train_idx, eval_idx = split_indices(len(images), args.train_size, args.eval_size, args.seed)
    x_train, y_train = normalize(images[train_idx]), labels[train_idx]
    x_eval, y_eval = normalize(images[eval_idx]), labels[eval_idx]

    model = MnistCNN(num_classes=len(CLASSES))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    shuffle = torch.Generator().manual_seed(args.seed + 1)
    start = time.perf_counter()
    history = []
    for epoch in range(1, args.epochs + 1):
        train_loss = train_epoch(model, optimizer, x_train, y_train, args.batch_size, shuffle)
        eval_loss, accuracy = evaluate(model, x_eval, y_eval)
        history.append(
            {"epoch": epoch, "train_loss": train_loss, "eval_loss": eval_loss, "accuracy": accuracy}
        )
        print(
            f"epoch {epoch}: train loss {train_loss:.4f}  held-out loss {eval_loss:.4f}  accuracy {accuracy:.2%}"
        )

    checkpoint = {
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "epoch": args.epochs,
        "loss": history[-1]["train_loss"],
        "accuracy": history[-1]["accuracy"],
        "arch": "mnist_cnn",
        "hyper_parameters": {
            "lr": args.lr,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "optimizer": "Adam",
            "seed": args.seed,
            "train_images": args.train_size,
            "eval_images": args.eval_size,
            "split": split,
            "normalize": {"mean": MNIST_MEAN, "std": MNIST_STD},
        },
        "history": history,
        "input_size": list(INPUT_SIZE),
        "classes": list(CLASSES),
        "dataset": "MNIST",
        "torch_version": str(torch.__version__),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(checkpoint, args.out)
    size = os.path.getsize(args.out)
    print(
        f"saved {args.out} ({size / 1e6:.2f} MB) after {time.perf_counter() - start:.1f} s of training: "
        f"held-out accuracy {history[-1]['accuracy']:.2%} on {args.eval_size} images of the {split} split"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
