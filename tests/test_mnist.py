"""The MNIST reader: the offline test split, both file forms (.gz and plain IDX), and clear errors."""

import gzip
import struct
import subprocess
import sys

import pytest
import torch

from inspector.core.data.mnist import available_splits, load_mnist_split
from inspector.core.errors import InspectorError


def write_idx(path, array: torch.Tensor, compress: bool) -> None:
    """An IDX file of unsigned bytes: header ``00 00 08 ndim`` then big-endian dims, then the bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.dim()) + struct.pack(f">{array.dim()}I", *array.shape)
    data = header + array.to(torch.uint8).numpy().tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)


def write_split(root, prefix: str, n: int, compress: bool = True):
    images = torch.arange(n * 28 * 28).remainder(256).to(torch.uint8).view(n, 28, 28)
    labels = torch.arange(n).remainder(10)
    write_idx(root / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte", images, compress)
    write_idx(root / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", labels, compress)
    return images, labels


def test_offline_test_split_has_10000_labelled_images(real_mnist_root):
    mnist_root = real_mnist_root
    assert available_splits(mnist_root) == ["test"]
    images, labels = load_mnist_split(mnist_root, "test")
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert int(labels.min()) == 0 and int(labels.max()) == 9
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits
    assert torch.bincount(labels).min() > 800  # every class is there
    assert 30 < images.float().mean() < 36  # MNIST's mean intensity is ~33


def test_missing_split_names_the_root_and_the_fix(mnist_root):
    with pytest.raises(InspectorError, match=r"no MNIST train split.*use the test split") as info:
        load_mnist_split(mnist_root, "train")
    assert str(mnist_root) in info.value.message


def test_empty_root_says_where_the_files_should_be(tmp_path):
    assert available_splits(tmp_path) == []
    with pytest.raises(InspectorError, match=r"MNIST/raw/t10k-images-idx3-ubyte.gz.*download=True") as info:
        load_mnist_split(tmp_path, "test")
    assert info.value.message.startswith(str(tmp_path))


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "plain"])
def test_gz_and_plain_idx_files_read_the_same(tmp_path, compress):
    expected_images, expected_labels = write_split(tmp_path, "train", 7, compress)
    assert available_splits(tmp_path) == ["train"]
    images, labels = load_mnist_split(tmp_path, "train")
    assert torch.equal(images, expected_images) and images.dtype == torch.uint8
    assert torch.equal(labels, expected_labels) and labels.dtype == torch.int64


def test_both_splits_and_a_root_pointing_at_the_raw_folder(tmp_path):
    write_split(tmp_path, "train", 3)
    write_split(tmp_path, "t10k", 2)
    assert available_splits(tmp_path) == ["train", "test"]
    assert available_splits(tmp_path / "MNIST" / "raw") == ["train", "test"]
    assert load_mnist_split(tmp_path / "MNIST" / "raw", "test")[0].shape == (2, 28, 28)


def test_truncated_file_is_a_clear_error(tmp_path):
    write_split(tmp_path, "t10k", 4)
    images = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-100]))
    with pytest.raises(InspectorError, match=r"not a valid MNIST IDX file.*download it again"):
        load_mnist_split(tmp_path, "test")


def test_mismatched_counts_are_refused(tmp_path):
    write_split(tmp_path, "t10k", 4)
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", torch.zeros(3), compress=True)
    with pytest.raises(InspectorError, match=r"4 images but 3 labels"):
        load_mnist_split(tmp_path, "test")


def test_unknown_split_is_refused(tmp_path):
    with pytest.raises(InspectorError, match="unknown MNIST split 'val'"):
        load_mnist_split(tmp_path, "val")


def test_importing_the_reader_does_not_import_torch():
    code = "import sys, inspector.core.data.mnist; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_no_split_at_all_names_the_data_root_control_in_the_window(tmp_path):
    """The window's message names its Data root… / Browse… controls, not a torchvision download snippet."""
    with pytest.raises(InspectorError) as info:
        load_mnist_split(tmp_path, "test")
    assert "download=True" in info.value.message
    gui = info.value.gui_message
    assert "download=True" not in gui and "Data root…" in gui and str(tmp_path) in gui and "\n" not in gui


def test_fashion_mnist_is_told_from_mnist_by_folder_name_and_labels(tmp_path):
    from inspector.core.data.mnist import detect_dataset

    labels = torch.tensor([9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 3], dtype=torch.uint8)  # Fashion-MNIST's test split
    for folder, name in ((tmp_path / "flat", "t10k"), (tmp_path / "fashion-mnist", "t10k"),
                         (tmp_path / "nested" / "FashionMNIST" / "raw", "t10k"), (tmp_path / "digits", "t10k")):  # fmt: skip
        folder.mkdir(parents=True)
        write_idx(folder / f"{name}-images-idx3-ubyte", torch.zeros(11, 28, 28, dtype=torch.uint8), False)
        write_idx(
            folder / f"{name}-labels-idx1-ubyte", labels if folder.name != "digits" else labels.flip(0), False
        )
    assert detect_dataset(tmp_path / "flat") == "MNIST"  # nothing said yet: by the name only
    assert detect_dataset(tmp_path / "flat", "test", labels.long()) == "FashionMNIST"
    assert detect_dataset(tmp_path / "fashion-mnist") == "FashionMNIST"
    assert detect_dataset(tmp_path / "nested") == "FashionMNIST"
    assert detect_dataset(tmp_path / "digits", "test", labels.flip(0).long()) == "MNIST"
