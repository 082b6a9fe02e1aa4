"""Files that change or vanish while open, odd paths, read-only folders, a checkpoint saved on ``cuda:0``."""

import json
import os
import stat
import tempfile
import zipfile

import pytest
import torch
from faults_fixtures import ODD_FOLDER, ODD_NAME, save_as_if_on_cuda

from inspector.cli import main
from inspector.core.analysis.stats import tensor_stats
from inspector.core.checkpoint.loader import load_checkpoint
from inspector.core.errors import InspectorError
from inspector.core.training.saving import check_target
from tests.finetune_fixtures import write_square_digits, write_untrained_demo

DEMO = "resources/demo_mnist_cnn.pth"
pytestmark = pytest.mark.usefixtures("private_dirs")  # the remembered data root: temporary


def run_cli(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


# -- a file that changes or disappears while open --------------------------------------------------------------
@pytest.fixture
def opened(tmp_path):
    path = tmp_path / "w.pth"
    torch.save({"w": torch.arange(4.0), "b": torch.ones(3)}, path)
    return path, load_checkpoint(path)


def test_an_unchanged_file_reads_its_values(opened):
    _, ckpt = opened
    assert tensor_stats(ckpt.tensor("w")).max == 3.0
    assert ckpt.tensor("b").sum() == 3.0  # reading through the mmap changes nothing the check compares


def test_a_file_rewritten_in_place_is_refused_not_read_with_wrong_values(opened):
    path, ckpt = opened
    with open(
        path, "r+b"
    ) as stream:  # same size, other bytes: the mmap would show them under the old listing
        data = bytearray(stream.read())
        stream.seek(0)
        stream.write(
            data.replace(torch.arange(4.0).numpy().tobytes(), torch.full((4,), 9.0).numpy().tobytes())
        )
    assert os.path.getsize(path) == len(data)
    with pytest.raises(InspectorError) as err:
        ckpt.tensor("w")
    assert err.value.message == f"{path}: changed on disk since it was opened; reopen it"


def test_a_file_saved_again_or_replaced_is_refused(opened, tmp_path):
    path, ckpt = opened
    torch.save({"w": torch.zeros(400)}, path)  # a new save over the open file (truncates: SIGBUS territory)
    with pytest.raises(InspectorError, match="changed on disk since it was opened; reopen it"):
        ckpt.tensor("w")
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(2)}, other)
    fresh = load_checkpoint(path)
    os.replace(other, path)  # an atomic save by another program: a new inode at the same path
    with pytest.raises(InspectorError, match="changed on disk"):
        fresh.tensor("w")


def test_a_deleted_file_is_named_gone(opened):
    path, ckpt = opened
    os.remove(path)
    with pytest.raises(InspectorError) as err:
        ckpt.tensor("w")
    assert err.value.message == f"{path}: changed on disk since it was opened (it is gone); reopen it"


# -- paths with spaces and non-ASCII characters -------------------------------------------------------------------
@pytest.fixture
def odd_path(tmp_path):
    folder = tmp_path / ODD_FOLDER
    folder.mkdir(parents=True)
    path = folder / ODD_NAME
    torch.save({"conv.weight": torch.full((2, 1, 3, 3), 0.5), "fc.bias": torch.arange(3.0)}, path)
    return path


def test_cli_lists_and_reads_a_file_whose_path_has_spaces_and_non_ascii(odd_path, capsys, tmp_path):
    code, out, err = run_cli(capsys, "list", odd_path, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["path"] == str(odd_path) and [e["name"] for e in doc["entries"]] == ["conv.weight", "fc.bias"]
    code, out, _ = run_cli(capsys, "list", odd_path)
    assert code == 0 and ODD_NAME in out
    code, out, _ = run_cli(capsys, "stats", odd_path, "--tensor", "fc.bias", "--json")
    assert code == 0 and json.loads(out)["tensors"][0]["max"] == 2.0
    picture = odd_path.parent / "filtré grid.png"
    assert run_cli(capsys, "filters", odd_path, "--tensor", "conv.weight", "--out", picture)[0] == 0
    assert picture.stat().st_size > 0
    code, _, err = run_cli(capsys, "list", odd_path.parent / "nö such.pth")
    assert code == 1 and err.startswith("error: ") and "nö such.pth" in err and "Traceback" not in err


def test_a_file_name_that_is_not_utf8_opens(tmp_path):
    """Bytes a Linux file name may hold but UTF-8 cannot decode: torch's from_file could not take the path, and
    the file was called corrupt."""
    folder = os.fsencode(tmp_path)
    path = os.fsdecode(folder + b"/bad\xffname.pth")
    with open(path, "wb") as stream:
        torch.save({"fc.bias": torch.arange(3.0)}, stream)
    ckpt = load_checkpoint(path)
    assert tensor_stats(ckpt.tensor("fc.bias")).max == 2.0


def test_a_terminal_without_unicode_gets_escaped_names(odd_path):
    """stdout in ASCII (PYTHONIOENCODING=ascii, a C locale): printing the name was an 'unexpected' crash."""
    import subprocess
    import sys

    env = dict(os.environ, PYTHONIOENCODING="ascii", PYTHONPATH=os.getcwd())
    done = subprocess.run([sys.executable, "-m", "inspector", "list", str(odd_path)], capture_output=True,
                          env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert b"ch\\xe9ck point 1.pth" in done.stdout and b"unexpected" not in done.stderr


def test_finetune_saves_to_a_path_with_spaces_and_non_ascii(tmp_path, capsys):
    data_root = write_square_digits(tmp_path / "dätä root", n=200)
    folder = tmp_path / ODD_FOLDER
    folder.mkdir(parents=True)
    base = write_untrained_demo(folder, name="bäse net.pth")
    out = folder / "tüned out.pth"
    code, stdout, err = run_cli(capsys, "finetune", base, "--data", f"mnist:{data_root}", "--freeze", "conv1.*",
                                "--limit", "128", "--batch-size", "64", "--out", out, "--json")  # fmt: skip
    assert code == 0, err
    assert json.loads(stdout)["out"] == str(out)
    assert torch.load(out, weights_only=True)["base_file"] == str(base)


# -- read-only folders ----------------------------------------------------------------------------------------------
def _writable_for_us(folder) -> bool:
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def test_a_folder_that_denies_writing_is_refused_before_training(tmp_path):
    """As root, chmod denies nothing; /sys is a folder no one may create files in, root included."""
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    else:
        folder = "/sys"
    if _writable_for_us(folder):
        pytest.skip(f"{folder} is writable here")
    with pytest.raises(InspectorError) as err:
        check_target(os.path.join(folder, "out.pth"))
    assert err.value.message.endswith("is read-only; choose a writable folder")
    assert "Traceback" not in err.value.message


def test_check_target_leaves_no_probe_behind(tmp_path):
    assert check_target(tmp_path / "out.pth") == str(tmp_path / "out.pth")
    assert list(tmp_path.iterdir()) == []


# -- a checkpoint saved on cuda:0, opened without a GPU -------------------------------------------------------------
@pytest.fixture
def cuda_saved_demo(tmp_path):
    state = torch.load(DEMO, weights_only=True, map_location="cpu")
    state = state.get("model_state_dict", state)
    return save_as_if_on_cuda(state, tmp_path / "demo on cuda.pth"), state


def test_the_cuda_file_holds_cuda_locations(cuda_saved_demo):
    path, _ = cuda_saved_demo
    with zipfile.ZipFile(path) as archive:
        pickle_bytes = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    assert b"cuda:0" in pickle_bytes and b"cpu" not in pickle_bytes


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_a_cuda_saved_checkpoint_lists_its_device_and_runs_features_on_cpu(cuda_saved_demo, capsys, tmp_path):
    path, state = cuda_saved_demo
    code, out, err = run_cli(capsys, "list", path, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {e["device"] for e in doc["entries"]} == {"cuda:0"}
    assert doc["metadata"]["saved_on_devices"] == ["cuda:0"]
    ckpt = load_checkpoint(path)
    assert ckpt.tensor("conv1.weight").device.type == "cpu"
    assert torch.equal(ckpt.tensor("conv1.weight"), state["conv1.weight"])
    image = tmp_path / "bar.png"
    from PIL import Image

    Image.new("L", (28, 28), 0).save(image)
    code, out, err = run_cli(capsys, "features", path, "--image", image, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["device"] == "cpu" and report["layers"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_a_cuda_saved_checkpoint_fine_tunes_on_cpu(tmp_path, capsys):
    data_root = write_square_digits(tmp_path / "squares", n=200)
    plain = write_untrained_demo(tmp_path)
    base = save_as_if_on_cuda(torch.load(plain, weights_only=True), tmp_path / "cuda base.pth")
    out = tmp_path / "tuned.pth"
    code, stdout, err = run_cli(capsys, "finetune", base, "--data", f"mnist:{data_root}", "--limit", "128",
                                "--batch-size", "64", "--out", out, "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    assert report["device"] == "cpu"
    assert all(
        t.device.type == "cpu" for t in torch.load(out, weights_only=True)["model_state_dict"].values()
    )
