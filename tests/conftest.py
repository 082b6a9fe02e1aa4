"""Shared fixtures. Qt runs offscreen so the suite needs no display."""

import os
import pathlib

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

# Helper modules that test modules import by name: rewrite their asserts too (and silence pytest's warning).
pytest.register_assert_rewrite("ui_fixtures", "checkpoint_factory")

REPO = pathlib.Path(__file__).resolve().parents[1]
MNIST_ROOT = REPO.parent / "shared" / "mnist"


@pytest.fixture
def mnist_root() -> pathlib.Path:
    """The offline MNIST test split beside the checkout (skips where it is absent)."""
    if not (MNIST_ROOT / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/mnist is not here")
    return MNIST_ROOT
