"""What a new user's trial of the Features tab found (offscreen, no sleeps): ablation controls without a run,
CLI flags in GUI messages, a shared module's second call, Random and the label filter, start-up options,
an explicit model class over key matching."""

import pytest
import torch
from ui_fixtures import DEMO_CHECKPOINT as DEMO
from ui_fixtures import FEATURES_TIMEOUT as TIMEOUT
from ui_fixtures import make_view, run_and_wait, tiny_state_dict

from inspector.core.checkpoint.loader import load_checkpoint

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers", "private_dirs")


# -- 1. ablation controls need a run to ablate ------------------------------------------------------------------
def test_ablation_controls_are_disabled_without_a_checkpoint(qtbot):
    _, view = make_view(qtbot)
    view.show()
    assert not view.ablate_button.isEnabled() and not view.restore_button.isEnabled()
    assert "Open a checkpoint" in view.ablate_button.toolTip()
    assert "Nothing is zeroed" in view.restore_button.toolTip()


def test_ablation_controls_are_disabled_when_the_model_cannot_run(qtbot, tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(tiny_state_dict(), path)  # an architecture nobody knows: nothing runs
    session, view = make_view(qtbot)
    session.set_checkpoint(load_checkpoint(path))
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT):
        view.show()
    assert not view.ablate_button.isEnabled() and not view.restore_button.isEnabled()
    assert "has not run yet" in view.ablate_button.toolTip()
    view.selected = [0]  # even with a channel list left over, there is nothing to zero
    view.ablate_selected()
    assert not view.is_busy()
    view.shutdown()


def test_zero_needs_picked_channels_and_restore_needs_a_zeroed_run(qtbot, view):
    assert not view.ablate_button.isEnabled() and "Click channels" in view.ablate_button.toolTip()
    assert not view.restore_button.isEnabled()
    view.toggle_channel(2)
    assert view.ablate_button.isEnabled() and "Zero the selected" in view.ablate_button.toolTip()
    run_and_wait(qtbot, view, view.ablate_button.click)
    assert view.restore_button.isEnabled()


# -- 3. the second call of a shared pool -----------------------------------------------------------------------
def test_second_call_of_the_shared_pool_can_be_zeroed_in_the_view(qtbot, view):
    assert view.select_layer("pool#2")
    plain_first = view.result.layer("pool").output
    view.toggle_channel(3)
    assert view.ablate_button.isEnabled()
    after = run_and_wait(qtbot, view, view.ablate_button.click)
    assert after.ablated == {"pool#2": [3]} and view.layer_name == "pool#2"
    assert float(after.layer("pool#2").output[3].abs().max()) == 0.0
    assert torch.equal(after.layer("pool").output, plain_first)
    assert "after zeroing pool#2 channel 3 (red)" in view.prediction_label.text()


# -- 4. Random keeps to the chosen label -----------------------------------------------------------------------
def test_random_with_a_label_chosen_picks_an_image_of_that_label(qtbot, view, mnist_root):
    assert view.set_data_root(mnist_root)
    run_and_wait(qtbot, view, lambda: view.set_source("mnist"))

    def choose_label_three():
        view.label_combo.setCurrentIndex(view.label_combo.findData(3))
        view.label_combo.activated.emit(view.label_combo.currentIndex())

    run_and_wait(qtbot, view, choose_label_three)
    seen = {view.index_spin.value()}
    for _ in range(6):  # each click shows another image of label 3 (never the one shown), so each one runs
        run_and_wait(qtbot, view, view.random_button.click)
        index = view.index_spin.value()
        assert int(view.samples.labels[index]) == 3 and "true label 3" in view.input_caption.text()
        seen.add(index)
    assert len(seen) > 2
    view.label_combo.setCurrentIndex(view.label_combo.findData(-1))  # any label: the whole split again
    picks = {view.samples.random_index() for _ in range(200)}
    assert len({int(view.samples.labels[i]) for i in picks}) == 10


def test_random_index_of_a_label_never_repeats_the_shown_one(mnist_root):
    import random

    from inspector.core.activations.features import MnistSamples

    samples = MnistSamples(mnist_root)
    rng = random.Random(0)
    shown = samples.index_of_label(5)
    picks = [samples.random_index(rng, label=5, avoid=shown) for _ in range(300)]
    assert all(int(samples.labels[i]) == 5 for i in picks) and shown not in picks


# -- 6. "Choose model class…" wins over the key match ---------------------------------------------------------
def test_a_chosen_model_class_wins_over_the_key_match_in_the_view(qtbot, view, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox
    from test_features_trial import DIGITS_CLASS

    source = tmp_path / "half_digits.py"
    source.write_text(DIGITS_CLASS)
    known_logits = view.result.logits
    assert view.model_label.text().startswith("Model: known architecture mnist_cnn")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(source), "")))
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("HalfDigits", True)))
    monkeypatch.setattr(QMessageBox, "warning", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Yes))
    result = run_and_wait(qtbot, view, view.class_button.click)
    assert view.model.resolved.source == "model_class"
    assert view.model_label.text() == ("Model: model class HalfDigits (user-named, trusted), chosen over known "
                                       "architecture mnist_cnn that the keys match")  # fmt: skip
    assert torch.allclose(result.logits, known_logits / 2, atol=1e-5)


# -- 2. messages in the window name its controls, not the command line's flags -----------------------------------
def failure_of(qtbot, path, trust=False):
    session, view = make_view(qtbot)
    session.set_checkpoint(load_checkpoint(path, trust=trust))
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT) as failed:
        view.show()
    view.shutdown()
    return failed.args[0], view


def test_unknown_architecture_names_choose_model_class_not_the_flag(qtbot, tmp_path):
    path = tmp_path / "tiny.pth"
    torch.save(tiny_state_dict(), path)
    message, view = failure_of(qtbot, path)
    assert "Choose model class…" in message and "--" not in message
    assert view.message.text() == message


def test_an_untrusted_module_names_the_trust_menu_not_the_flag(qtbot, tmp_path):
    from checkpoint_factory import write_pickled_module

    message, _ = failure_of(qtbot, write_pickled_module(tmp_path))
    assert "File › Trust and reload…" in message and "--trust" not in message


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_names_the_device_list(qtbot, view):
    with qtbot.waitSignal(view.failed, timeout=TIMEOUT) as blocker:
        view.device_combo.setCurrentText("cuda")
    assert "choose cpu in the Device list" in blocker.args[0] and "--device" not in blocker.args[0]


def test_out_of_memory_in_the_view_names_retry_on_cpu(qtbot, monkeypatch):
    from test_faults_oom import oom_once

    oom_once(monkeypatch)
    message, _ = failure_of(qtbot, DEMO)
    assert message.endswith("run it on the CPU: press Retry on CPU") and "--device" not in message


def test_a_class_name_that_is_no_identifier_is_said_in_the_window(qtbot, view, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(tmp_path / "m.py"), ""))
    )
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("My Net", True)))
    view.class_button.click()
    assert "'My Net' is not a Python class name" in view.status.text() and "--" not in view.status.text()
    assert view.session.model_class == ""


# -- 5. main.py --mnist-root / --index that cannot be used are said, not dropped or clamped ----------------------
def start_main(monkeypatch, ui_settings, *argv):
    from inspector.ui import app as app_module

    windows = []
    real_window = app_module.MainWindow
    monkeypatch.setattr(
        app_module, "MainWindow", lambda settings: windows.append(real_window(settings)) or windows[-1]
    )
    code = app_module.main([DEMO, *map(str, argv)], settings=ui_settings)
    return code, windows[0]


def test_a_bad_mnist_root_at_start_is_said_in_the_window(qtbot, tmp_path, ui_settings, monkeypatch, capsys):
    bad = tmp_path / "no-data-here"
    code, window = start_main(monkeypatch, ui_settings, "--mnist-root", bad, "--tab", "features",
                              "--screenshot", tmp_path / "shot.png")  # fmt: skip
    view = window.features_tab
    assert code == 1 and f"--mnist-root {bad} not used" in window.last_error
    assert "Data root…" in window.last_error and "no MNIST test split" in window.last_error
    assert not view.notice.isHidden() and view.notice.text() == window.last_error
    assert view.samples is None and view.source() == "canvas"
    assert capsys.readouterr().err.strip() == f"error: {window.last_error}"
    window.deleteLater()


def test_an_index_too_large_at_start_is_said_not_clamped(
    qtbot, tmp_path, ui_settings, monkeypatch, mnist_root
):
    from inspector.core.activations.features import MnistSamples

    size = len(MnistSamples(mnist_root).labels)  # 10000 for MNIST, fewer for the font digits
    code, window = start_main(monkeypatch, ui_settings, "--mnist-root", mnist_root, "--index", size,
                              "--tab", "features", "--screenshot", tmp_path / "shot.png")  # fmt: skip
    view = window.features_tab
    message = window.last_error
    assert code == 1 and message.startswith(f"--index {size} not used: ") and f"(0..{size - 1})" in message
    assert "showing #0" in message and view.notice.text() == message
    assert view.source() == "mnist" and view.index_spin.value() == 0  # not the last index
    assert view.input_caption.text().startswith("MNIST test #0")
    window.deleteLater()


def test_a_good_index_at_start_is_shown_without_a_notice(
    qtbot, tmp_path, ui_settings, monkeypatch, mnist_root
):
    code, window = start_main(monkeypatch, ui_settings, "--mnist-root", mnist_root, "--index", 17,
                              "--tab", "features", "--screenshot", tmp_path / "shot.png")  # fmt: skip
    view = window.features_tab
    assert code == 0 and view.index_spin.value() == 17 and view.notice.isHidden()
    assert view.input_caption.text().startswith("MNIST test #17")
    window.deleteLater()


def test_an_index_without_a_data_root_at_start_is_said(qtbot, tmp_path, ui_settings, monkeypatch):
    code, window = start_main(monkeypatch, ui_settings, "--index", 3, "--screenshot", tmp_path / "shot.png")
    message = window.last_error
    assert code == 1 and message.startswith("--index 3 (no --mnist-root: the last data root) not used: ")
    assert "Data root…" in message and window.features_tab.notice.text() == message
    window.deleteLater()
