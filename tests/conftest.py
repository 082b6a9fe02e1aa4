"""Shared fixtures. Qt runs offscreen so the suite needs no display."""

import os
import pathlib

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

# Helper modules that test modules import by name: rewrite their asserts too (and silence pytest's warning).
pytest.register_assert_rewrite("ui_fixtures", "checkpoint_factory")

REPO = pathlib.Path(__file__).resolve().parents[1]
MNIST_ROOT = REPO.parent / "shared" / "mnist"


def _has_real_mnist() -> bool:
    """(``INSPECTOR_TESTS_FONT_DIGITS=1`` runs the suite as a clean clone would, on the font digits.)"""
    if os.environ.get("INSPECTOR_TESTS_FONT_DIGITS") == "1":
        return False
    return (MNIST_ROOT / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()


@pytest.fixture
def real_mnist_root() -> pathlib.Path:
    """The offline MNIST test split beside the checkout, for tests about MNIST itself (skips where absent)."""
    if not _has_real_mnist():
        pytest.skip("../shared/mnist is not here")
    return MNIST_ROOT


@pytest.fixture(scope="session")
def _font_digit_root(tmp_path_factory) -> pathlib.Path:
    from font_digits import write_font_digit_split

    return write_font_digit_split(tmp_path_factory.mktemp("font-digits"))


@pytest.fixture
def mnist_root(request) -> pathlib.Path:
    """A test split to run images from: MNIST's beside the checkout, else rendered font digits with the same
    first labels (``tests/font_digits.py``), so a clean clone runs the feature-map tests instead of skipping."""
    return MNIST_ROOT if _has_real_mnist() else request.getfixturevalue("_font_digit_root")


@pytest.fixture
def private_dirs(tmp_path, monkeypatch):
    """Remembered settings (the last data root) go to temporary config/cache folders, never the user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def torch_warns_again():
    """torch warns of TypedStorage's removal once per process: reset that, so this test sees the warning
    whichever test loaded a file first."""
    import torch.storage

    reset = getattr(torch.storage, "_reset_warn_typed_storage_removal", None)
    if reset is not None:
        reset()
