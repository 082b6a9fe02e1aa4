"""``main.py``: screenshots offscreen, ``--trust``, and a window that paints before torch is imported."""

import os
import pathlib
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from inspector.ui import app as app_module

pytest_plugins = ["ui_fixtures"]
pytestmark = pytest.mark.usefixtures("no_dangling_workers")

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_main(tmp_path, *args, timeout=120):
    """``python main.py ARGS`` offscreen, with the user's settings folder replaced by a temporary one."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    return subprocess.run([sys.executable, str(REPO / "main.py"), *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_screenshot_flag_writes_a_png_of_the_loaded_window(tmp_path, tiny_checkpoint):
    png = tmp_path / "shot.png"
    result = run_main(tmp_path, tiny_checkpoint, "--screenshot", png)
    assert result.returncode == 0, result.stderr
    image = QImage(str(png))
    assert (image.width(), image.height()) == (1280, 800)
    assert "propagateSizeHints" not in result.stderr  # the offscreen platform's notice, once per window


def test_screenshot_of_a_bad_file_shows_the_error_and_exits_1(tmp_path, bad_file):
    png = tmp_path / "shot.png"
    result = run_main(tmp_path, bad_file, "--screenshot", png)
    assert result.returncode == 1
    assert not QImage(str(png)).isNull()
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {bad_file}: not a PyTorch checkpoint" + errors[0].split("not a PyTorch checkpoint")[1]
    ]


def test_screenshot_of_a_truncated_file_says_the_error_on_the_terminal(tmp_path, tiny_checkpoint):
    """It exited 1 with nothing on the terminal (while --select nosuch printed its error line)."""
    truncated = tmp_path / "trunc.pth"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:-10])
    result = run_main(tmp_path, truncated, "--screenshot", tmp_path / "x.png")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {truncated}: ") and "re-download" in errors[0]


def test_gui_modules_do_not_import_torch(tmp_path):
    code = (
        "import sys, runpy; runpy.run_path('main.py', run_name='not_main');"
        "import inspector.ui.app, inspector.ui.main_window;"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_main_with_trust_opens_the_file_trusted(qtbot, tmp_path, tiny_checkpoint, ui_settings, monkeypatch):
    windows = []
    real_window = app_module.MainWindow
    monkeypatch.setattr(
        app_module, "MainWindow", lambda settings: windows.append(real_window(settings)) or windows[-1]
    )
    png = tmp_path / "trusted.png"
    code = app_module.main([str(tiny_checkpoint), "--trust", "--screenshot", str(png)], settings=ui_settings)
    assert code == 0 and png.exists()
    assert windows[0].checkpoint.trusted
    assert windows[0].windowTitle() == "tiny.pth [trusted] — inspector"
    windows[0].deleteLater()


def test_parser_defaults():
    args = app_module.build_parser().parse_args([])
    assert args.file is None and not args.trust and args.screenshot is None


def test_many_qt_calls_do_not_exhaust_none(tmp_path):
    """PySide6 6.12.0 on Python 3.11 drops a None reference per void call: the installed Qt must not."""
    code = (
        "import inspector.ui\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([]); label = QLabel()\n"
        "for _ in range(50000): label.setText('x')\n"
        "print('alive')\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "alive" in result.stdout, result.stderr[-2000:]


def test_select_and_tab_show_a_tensor_in_the_weights_tab(
    qtbot, tmp_path, tiny_checkpoint, ui_settings, monkeypatch
):
    windows = []
    real_window = app_module.MainWindow
    monkeypatch.setattr(
        app_module, "MainWindow", lambda settings: windows.append(real_window(settings)) or windows[-1]
    )
    png = tmp_path / "weights.png"
    argv = [str(tiny_checkpoint), "--select", "conv2.weight", "--tab", "weights", "--screenshot", str(png)]
    assert app_module.main(argv, settings=ui_settings) == 0
    window = windows[0]
    assert window.current_entry().name == "conv2.weight"
    assert window.tabs.currentWidget() is window.weights_tab
    assert (
        window.weights_tab.kind == "filters" and window.weights_tab.summary is not None
    )  # drawn before the shot
    assert not QImage(str(png)).isNull()
    window.deleteLater()


def test_select_takes_a_module_name_too(qtbot, tmp_path, tiny_checkpoint, ui_settings, monkeypatch):
    """``--select conv2`` (a layer, as the Features tab names them) was "no tensor named 'conv2'"."""
    windows = []
    real_window = app_module.MainWindow
    monkeypatch.setattr(
        app_module, "MainWindow", lambda settings: windows.append(real_window(settings)) or windows[-1]
    )
    argv = [str(tiny_checkpoint), "--select", "conv2", "--screenshot", str(tmp_path / "module.png")]
    assert app_module.main(argv, settings=ui_settings) == 0
    assert windows[0].current_entry().module == "conv2"
    windows[0].deleteLater()


def test_select_of_a_missing_tensor_speaks_to_the_gui_user_and_fails_the_screenshot(
    qtbot, tmp_path, tiny_checkpoint, ui_settings, monkeypatch, capsys
):
    windows = []
    real_window = app_module.MainWindow
    monkeypatch.setattr(
        app_module, "MainWindow", lambda settings: windows.append(real_window(settings)) or windows[-1]
    )
    png = tmp_path / "missing.png"
    argv = [str(tiny_checkpoint), "--select", "conv9.weight", "--screenshot", str(png)]
    assert app_module.main(argv, settings=ui_settings) == 1
    window = windows[0]
    message = window.last_error
    assert "conv9.weight" in message and "filter box" in message
    assert "inspector list" not in message and "run " not in message  # no CLI command for a GUI user
    assert capsys.readouterr().err.strip() == f"error: {message}"
    assert not QImage(str(png)).isNull()
    window.deleteLater()


def test_compare_flag_pictures_the_compare_window_with_its_row_selected(
    qtbot, tmp_path, tiny_checkpoint, ui_settings, monkeypatch
):
    import torch
    from ui_fixtures import tiny_state_dict

    other = tmp_path / "other.pth"
    changed = tiny_state_dict()
    changed["conv2.weight"] = changed["conv2.weight"] * 3
    torch.save(changed, other)
    windows = []
    real_window = app_module.MainWindow
    monkeypatch.setattr(
        app_module, "MainWindow", lambda settings: windows.append(real_window(settings)) or windows[-1]
    )
    png = tmp_path / "compare.png"
    argv = [str(tiny_checkpoint), "--compare", str(other), "--select", "fc.weight", "--screenshot", str(png)]
    assert app_module.main(argv, settings=ui_settings) == 0
    (diff_window,) = windows[0].diff_windows
    view = diff_window.view
    assert view.visible_names()[0] == "conv2.weight"  # the changed tensor first
    assert view.model.diff_row(view.proxy.mapToSource(view.table.currentIndex())).name == "fc.weight"
    assert diff_window.view.weight_view.summary is not None  # the difference was drawn before the shot
    image = QImage(str(png))
    assert (image.width(), image.height()) == (diff_window.width(), diff_window.height()) == (1280, 800)
    windows[0].deleteLater()


def test_tab_names_read_as_the_tabs_do():
    """``--tab Fine-tune`` (the tab's own label) was refused: only ``finetune`` was a choice."""
    from inspector.ui.app import build_parser

    assert build_parser().parse_args(["--tab", "Fine-tune"]).tab == "finetune"
    assert build_parser().parse_args(["--tab", "weights"]).tab == "weights"
