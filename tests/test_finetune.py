"""Fine-tuning in core and CLI: frozen means bitwise frozen, the rest trains, the new file is safe to open."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys

import pytest
import torch

from inspector.cli import main
from inspector.commands.common import load_or_fail
from inspector.core.errors import InspectorError
from inspector.core.jobs import run_job
from inspector.core.training.changes import iter_changes, trained_checkpoint
from inspector.core.training.freeze import (
    count_by_names,
    frozen_by_names,
    parse_patterns,
    patterns_for,
    plan_freeze,
)
from inspector.core.training.loop import EpochRecord, StepRecord, iter_finetune
from inspector.core.training.prepare import checkpoint_dict, iter_guarded, prepare_run
from inspector.core.training.saving import check_target
from inspector.core.training.settings import FinetuneSettings
from tests.finetune_fixtures import write_square_digits, write_untrained_demo

CONVS = "conv1.*,bn1.*,conv2.*"
FROZEN_STATE = ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                "bn1.num_batches_tracked", "conv2.weight", "conv2.bias"]  # fmt: skip


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return write_square_digits(tmp_path_factory.mktemp("squares"))


@pytest.fixture
def base(tmp_path):
    return write_untrained_demo(tmp_path)


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_freezing_convs_keeps_them_bitwise_and_trains_the_rest(base, data_root, tmp_path, capsys):
    before_bytes = sha(base)
    before = torch.load(base, weights_only=True)["model_state_dict"]
    out = tmp_path / "tuned.pth"
    code = main(["finetune", str(base), "--freeze", CONVS, "--data", f"mnist:{data_root}", "--lr", "3e-3",
                 "--batch-size", "64", "--out", str(out), "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["frozen_unchanged"] is True
    assert report["frozen"] == FROZEN_STATE
    assert report["trainable"] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert report["val_accuracy_after"] > report["val_accuracy_before"] + 0.3
    assert [set(e) >= {"epoch", "train_loss", "val_accuracy", "seconds"} for e in report["epochs"]] == [True]
    assert report["out"] == str(out) and report["device"] == "cpu" and report["samples_per_second"] > 0
    saved = torch.load(out, weights_only=True)
    after = saved["model_state_dict"]
    for name in FROZEN_STATE:
        assert torch.equal(after[name], before[name]), name
    for name in report["trainable"]:
        assert not torch.equal(after[name], before[name]), name
    assert sha(base) == before_bytes  # the original file is only read
    assert saved["base_sha256"] == before_bytes and saved["frozen"] == FROZEN_STATE
    assert set(saved) >= {"optimizer_state_dict", "epoch", "metrics", "hyper_parameters"}
    assert load_or_fail(str(out)).architecture == "mnist_cnn"  # re-opens with the same architecture


def test_frozen_batchnorm_stays_in_eval_unless_allowed(base, data_root):
    ckpt = load_or_fail(str(base))
    settings = FinetuneSettings(data=f"mnist:{data_root}", freeze=("conv1", "bn1"), limit=256, batch_size=64)
    run = prepare_run(ckpt, settings)
    result = run_job(iter_finetune(run))
    assert result.frozen_unchanged and "bn1.running_mean" in run.plan.frozen_state
    moving = prepare_run(ckpt, FinetuneSettings(data=settings.data, freeze=("conv1", "bn1"), limit=256,
                                                batch_size=64, update_frozen_bn=True))  # fmt: skip
    start = moving.module.bn1.running_mean.clone()
    result = run_job(iter_finetune(moving))
    assert result.frozen_unchanged  # parameters still bitwise frozen
    assert not torch.equal(moving.module.bn1.running_mean.cpu(), start)  # statistics were let through


def test_progress_records_and_cancel_leaves_whole_steps(base, data_root):
    run = prepare_run(load_or_fail(str(base)), FinetuneSettings(data=f"mnist:{data_root}", freeze=("conv*",),
                                                                batch_size=32, limit=320))  # fmt: skip
    job = iter_finetune(run)
    records = []
    while sum(isinstance(r, StepRecord) for r in records) < 5:  # the base file's check and validation first
        records.append(next(job).payload)
    job.close()  # what the GUI's Cancel does between two yields
    steps = [r for r in records if isinstance(r, StepRecord)]
    assert [r.step for r in steps] == [1, 2, 3, 4, 5]
    assert all(torch.isfinite(p).all() for p in run.module.parameters())
    full = run_job(iter_finetune(prepare_run(load_or_fail(str(base)), run.settings)))
    assert [type(e) for e in full.epochs] == [EpochRecord]


def test_freeze_patterns_all_but_last_and_typos(base):
    from inspector.core.models.demo import MnistCNN

    net = MnistCNN()
    assert parse_patterns(" conv*, ,layer1.* ") == ["conv*", "layer1.*"]
    plan = plan_freeze(net, [], all_but_last=1)
    assert plan.trainable == ("fc2.weight", "fc2.bias")
    assert plan.counts(net) == (650, sum(p.numel() for p in net.parameters()) - 650)
    with pytest.raises(InspectorError, match="matches no parameter"):
        plan_freeze(net, ["cnov*"])


def test_names_alone_give_the_same_freeze_as_the_module_and_ticks_round_trip():
    """What the GUI computes from names (counts, ticks, patterns written back) agrees with ``plan_freeze``."""
    import torchvision

    net = torchvision.models.resnet18(num_classes=10)
    sizes = {n: p.numel() for n, p in net.named_parameters()}
    for patterns, last in (
        (["layer1", "conv1"], None),
        (["layer2.*.bn*"], None),
        ([], 3),
        (["fc.bias"], None),
    ):
        plan = plan_freeze(net, patterns, last)
        assert frozen_by_names(list(sizes), patterns, last) == set(plan.frozen)
        assert count_by_names(sizes, patterns, last) == plan.counts(net)
        written = patterns_for(set(plan.frozen), list(sizes))
        assert set(plan_freeze(net, written).frozen) == set(plan.frozen)
    assert patterns_for(set(plan_freeze(net, ["layer1"]).frozen) | {"fc.bias"}, list(sizes)) == [
        "layer1",
        "fc.bias",
    ]
    assert patterns_for({"layer1.0.conv1.weight"}, list(sizes)) == [
        "layer1.0.conv1"
    ]  # a whole module (and buffers)
    assert patterns_for({"layer1.0.bn1.weight"}, list(sizes)) == ["layer1.0.bn1.weight"]


def test_the_change_table_is_the_diff_of_the_base_against_the_trained_weights(base, data_root):
    ckpt = load_or_fail(str(base))
    run = prepare_run(
        ckpt,
        FinetuneSettings(
            data=f"mnist:{data_root}", freeze=tuple(parse_patterns(CONVS)), batch_size=64, limit=256
        ),
    )
    result = run_job(iter_finetune(run))
    trained = trained_checkpoint(result.module, ckpt.path)
    changes = run_job(iter_changes(ckpt, trained))
    assert {t.name for t in changes.tensors} == set(result.module.state_dict())
    assert not changes.only_in_a and not changes.only_in_b  # the optimizer state of the base is not compared
    assert sorted(t.name for t in changes.changed) == sorted(result.plan.trainable)
    fc1 = changes.row("fc1.weight")
    assert fc1.rel_l2 > 0 and fc1.max_abs == pytest.approx(
        float((ckpt.tensor("model_state_dict/fc1.weight") - result.module.fc1.weight.detach()).abs().max())
    )
    assert (
        trained.entry("bn1.running_mean").kind == "buffer" and trained.entry("fc1.weight").kind == "parameter"
    )
    assert trained.class_of("", "fc1") == "torch.nn.modules.linear.Linear"


def test_out_of_gpu_memory_is_one_message_and_saves_nothing(base, data_root, tmp_path, monkeypatch):
    run = prepare_run(load_or_fail(str(base)), FinetuneSettings(data=f"mnist:{data_root}", limit=64))

    def boom(*_args, **_kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(run.module, "forward", boom)
    with pytest.raises(InspectorError, match="out of GPU memory.*--batch-size.*--device cpu"):
        run_job(iter_guarded(iter_finetune(run), run.device, 128))


def test_save_targets_are_checked_before_training(base, tmp_path, data_root, capsys):
    with pytest.raises(InspectorError, match="being fine-tuned"):
        check_target(base, base)
    other = tmp_path / "exists.pth"
    other.write_bytes(b"x")
    with pytest.raises(InspectorError, match="--force"):
        check_target(other, base)
    assert main(["finetune", str(base), "--data", f"mnist:{data_root}", "--out", str(base)]) == 1
    assert "error:" in capsys.readouterr().err
    if os.geteuid() != 0:
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        with pytest.raises(InspectorError, match="read-only"):
            check_target(locked / "o.pth", base)


def test_bad_data_spec_and_class_count(base, tmp_path, capsys):
    assert main(["finetune", str(base), "--data", "cifar:/x", "--out", str(tmp_path / "o.pth")]) == 1
    assert "mnist:DIR" in capsys.readouterr().err


def test_copy_as_command_runs_the_same_settings(base, data_root, tmp_path):
    from inspector.cli import build_parser
    from inspector.commands.finetune import settings_from_args

    settings = FinetuneSettings(data=f"mnist:{data_root}", freeze=("conv1.*", "bn1.*"), epochs=3, lr=0.01,
                                optimizer="sgd", schedule="cosine", limit=100)  # fmt: skip
    line = settings.command(str(base), str(tmp_path / "o.pth"))
    import shlex

    argv = shlex.split(line)[3:]
    assert settings_from_args(build_parser().parse_args(argv)) == settings


def test_tensorboard_log(base, data_root, tmp_path, capsys):
    pytest.importorskip("tensorboard")
    logs = tmp_path / "tb"
    assert main(["finetune", str(base), "--freeze", CONVS, "--data", f"mnist:{data_root}", "--limit", "128",
                 "--tensorboard", str(logs), "--out", str(tmp_path / "o.pth")]) == 0  # fmt: skip
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(logs))
    assert f"tensorboard --logdir {logs}" in capsys.readouterr().out
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(logs)).Reload().Tags()["scalars"]
    assert {"train/loss", "val/accuracy"} <= set(scalars)
    hparams = [d for d in logs.iterdir() if d.is_dir()]  # add_hparams writes its run in a sub-folder
    assert hparams and set(EventAccumulator(str(hparams[0])).Reload().Tags()["scalars"]) >= {
        "hparam/val_accuracy_after"
    }


DDP_SCRIPT = """
import sys, torch
from inspector.commands.common import load_or_fail
from inspector.core.jobs import run_job
from inspector.core.training.loop import iter_finetune
from inspector.core.training.prepare import prepare_run
from inspector.core.training.settings import FinetuneSettings
from inspector.core.training import distributed
run = prepare_run(load_or_fail(sys.argv[1]), FinetuneSettings(data=sys.argv[2], freeze=("conv*",), limit=256,
                  batch_size=32, device="cpu"))
run_job(iter_finetune(run))
torch.save(run.module.state_dict(), f"{sys.argv[3]}/rank{run.world.rank}.pt")
distributed.finish(run.world)
"""


def _torchrun(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_torchrun_two_gloo_ranks_end_identical_and_write_one_checkpoint(base, data_root, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    done = _torchrun([str(script), str(base), f"mnist:{data_root}", str(tmp_path)], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    a, b = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    out = tmp_path / "out" / "tuned.pth"
    out.parent.mkdir()
    done = _torchrun(["-m", "inspector", "finetune", str(base), "--freeze", CONVS, "--data", f"mnist:{data_root}",
                      "--limit", "256", "--device", "cpu", "--out", str(out), "--json"], tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    reports = [line for line in done.stdout.splitlines() if line.startswith("{") or line.startswith(' "')]
    assert os.listdir(out.parent) == ["tuned.pth"]
    assert json.loads(done.stdout)["world_size"] == 2 and reports


# -- what a new user tripped over ----------------------------------------------------------------------------
def test_statistics_allowed_to_update_are_not_reported_frozen(base, data_root, tmp_path, capsys):
    out = tmp_path / "bn.pth"
    assert main(["finetune", str(base), "--freeze", "conv1,bn1,conv2", "--update-frozen-bn", "--data",
                 f"mnist:{data_root}", "--limit", "256", "--out", str(out), "--json"]) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    moving = ["bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"]
    assert report["updated_buffers"] == moving and not set(moving) & set(report["frozen"])
    assert (
        report["frozen_unchanged"] is True
        and torch.load(out, weights_only=True)["frozen"] == report["frozen"]
    )
    before, after = (torch.load(p, weights_only=True)["model_state_dict"] for p in (base, out))
    assert all(not torch.equal(before[n], after[n]) for n in moving)


def test_validation_is_the_tail_of_the_seeded_permutation_the_demo_held_out():
    """With only a test split, validation must be images the demo checkpoint never trained on."""
    import importlib.util

    from inspector.core.training.datasets import ImageSet, _split

    spec = importlib.util.spec_from_file_location("make_demo", "resources/make_demo_checkpoint.py")
    make_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_demo)
    demo_train, demo_held_out = make_demo.split_indices(10000, 8000, 2000, seed=0)
    whole = ImageSet(torch.zeros(10000, 1, 1, dtype=torch.uint8), torch.arange(10000))
    train, val = _split(whole, seed=0)
    assert torch.equal(val.labels.sort().values, demo_held_out.sort().values)
    assert not set(train.labels.tolist()) & set(val.labels.tolist())


def test_limit_caps_validation_too_and_is_checked(base, data_root, tmp_path, capsys):
    run = prepare_run(load_or_fail(str(base)), FinetuneSettings(data=f"mnist:{data_root}", limit=100))
    assert (len(run.data.train), len(run.data.val)) == (
        100,
        100,
    ) and "validating on the first 100" in run.data.note
    assert main(["finetune", str(base), "--data", f"mnist:{data_root}", "--limit", "-5",
                 "--out", str(tmp_path / "o.pth")]) == 1  # fmt: skip
    assert capsys.readouterr().err.startswith(
        f"error: {base}: --limit -5: give a number of images, at least 1"
    )


def test_the_output_must_name_a_file_and_progress_is_printed(base, data_root, tmp_path, capsys):
    from inspector.commands.finetune import _printer
    from inspector.core.jobs import Progress

    assert (
        main(["finetune", str(base), "--data", f"mnist:{data_root}", "--out", str(tmp_path), "--force"]) == 1
    )
    assert "is a folder; name a file" in capsys.readouterr().err
    show = _printer(every_s=0)
    show(Progress(3, 10, "validation accuracy before training: batch 1/2"))
    assert "batch 1/2 (3/10 steps)" in capsys.readouterr().err


def test_fewer_classes_than_outputs_is_said_and_class_names_saved(base, tmp_path):
    from PIL import Image

    for k, name in enumerate(("birds", "cats", "dogs")):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (28, 28), 60 * k + i).save(tmp_path / "imgs" / name / f"{i}.png")
    run = prepare_run(load_or_fail(str(base)), FinetuneSettings(data=f"folder:{tmp_path / 'imgs'}", limit=8))
    assert "the data has 3 classes but the model predicts 10: --new-head 3" in run.data.note
    result = run_job(iter_finetune(run))
    saved = checkpoint_dict(result, run, str(base), "0" * 64)
    assert (
        saved["class_names"] == ["birds", "cats", "dogs"] and saved["dataset"] == "folder (birds, cats, dogs)"
    )


def test_a_fine_tuned_optimizer_names_its_parameters_and_diffs_by_parameter(
    base, data_root, tmp_path, capsys
):
    from inspector.core.analysis.diff import diff_checkpoints

    first, second = tmp_path / "a.pth", tmp_path / "b.pth"
    for out, freeze in ((first, "conv1,bn1"), (second, "conv1,bn1,conv2")):
        assert main(["finetune", str(base), "--freeze", freeze, "--data", f"mnist:{data_root}", "--limit", "128",
                     "--out", str(out)]) == 0  # fmt: skip
    ckpt = load_or_fail(str(second))
    labels = {e.name: e.state_of for e in ckpt.entries if e.group == "optimizer_state_dict" and e.state_of}
    assert labels["state.0.exp_avg"] == "fc1.weight"  # its optimizer holds fc1 and fc2 only
    result = diff_checkpoints(str(first), str(second))
    optimizer_rows = [t for t in result.tensors if t.name.startswith("optimizer_state_dict/")]
    assert optimizer_rows and not any(t.shape_mismatch for t in optimizer_rows)
    a_ckpt = load_or_fail(str(first))
    only_a = {e.state_of for e in a_ckpt.entries if a_ckpt.match_name(e) in result.only_in_a}
    assert only_a == {"conv2.weight", "conv2.bias"}  # conv2 trained (and had optimizer state) in A only
