"""The settings of one fine-tuning run: what the CLI flags, the GUI form and the saved file's hyper-parameters
hold, and the command line that repeats the run (the GUI's "Copy as command")."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine")


@dataclass
class FinetuneSettings:
    data: str  # mnist:DIR | fashion-mnist:DIR | folder:DIR
    freeze: tuple[str, ...] = ()
    all_but_last: int | None = None  # freeze every module with parameters but the last N
    epochs: int = 1
    lr: float = 1e-3
    batch_size: int = 128
    optimizer: str = "adam"
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    schedule: str = "none"
    device: str = "auto"
    seed: int = 0
    limit: int | None = None  # cap on training images (quick runs)
    new_head: int | None = None  # replace the last Linear layer with one of this many classes
    update_frozen_bn: bool = False  # let BatchNorm statistics of frozen modules move
    tensorboard: str | None = None
    verify: bool = True  # CRC-check the base file's records before training (refuse a damaged one)

    def to_json(self) -> dict:
        out = asdict(self)
        out["freeze"] = list(self.freeze)
        return out

    def command(self, file: str, out: str, model_class: str | None = None, trust: bool = False) -> str:
        """The ``python -m inspector finetune`` line that runs these settings (under ``torchrun`` too)."""
        args = ["python", "-m", "inspector", "finetune", file]
        if model_class:
            args += ["--model-class", model_class]
        if trust:
            args.append("--trust")
        if self.freeze:
            args += ["--freeze", ",".join(self.freeze)]
        if self.all_but_last is not None:
            args += ["--freeze-all-but-last", str(self.all_but_last)]
        args += ["--data", self.data, "--epochs", str(self.epochs), "--lr", f"{self.lr:g}",
                 "--batch-size", str(self.batch_size), "--optimizer", self.optimizer]  # fmt: skip
        if self.weight_decay:
            args += ["--weight-decay", f"{self.weight_decay:g}"]
        if self.optimizer == "sgd" and self.momentum != 0.9:
            args += ["--momentum", f"{self.momentum:g}"]
        if self.schedule != "none":
            args += ["--schedule", self.schedule]
        args += ["--device", self.device, "--seed", str(self.seed)]
        if self.limit is not None:
            args += ["--limit", str(self.limit)]
        if self.new_head is not None:
            args += ["--new-head", str(self.new_head)]
        if self.update_frozen_bn:
            args.append("--update-frozen-bn")
        if self.tensorboard:
            args += ["--tensorboard", self.tensorboard]
        if not self.verify:
            args.append("--no-verify")
        args += ["--out", out]
        return shlex.join(args)
