"""Recent files in QSettings: order, duplicates, limit, persistence (in a temporary INI file)."""

from PySide6.QtCore import QSettings

from inspector.ui.recent_files import MAX_RECENT, RecentFiles


def settings(tmp_path):
    return QSettings(str(tmp_path / "recent.ini"), QSettings.Format.IniFormat)


def test_most_recent_first_without_duplicates(qtbot, tmp_path):
    recent = RecentFiles(settings(tmp_path))
    with qtbot.waitSignal(recent.changed):
        recent.add(str(tmp_path / "a.pth"))
    recent.add(str(tmp_path / "b.pth"))
    recent.add(str(tmp_path / "a.pth"))
    assert recent.paths() == [str(tmp_path / "a.pth"), str(tmp_path / "b.pth")]


def test_one_path_survives_a_restart(tmp_path):
    RecentFiles(settings(tmp_path)).add(str(tmp_path / "only.pth"))
    assert RecentFiles(settings(tmp_path)).paths() == [str(tmp_path / "only.pth")]


def test_limit_remove_and_clear(qtbot, tmp_path):
    recent = RecentFiles(settings(tmp_path))
    for i in range(MAX_RECENT + 3):
        recent.add(str(tmp_path / f"{i}.pth"))
    assert len(recent.paths()) == MAX_RECENT
    assert recent.paths()[0] == str(tmp_path / f"{MAX_RECENT + 2}.pth")
    recent.remove(str(tmp_path / f"{MAX_RECENT + 2}.pth"))
    assert recent.paths()[0] == str(tmp_path / f"{MAX_RECENT + 1}.pth")
    with qtbot.waitSignal(recent.changed):
        recent.clear()
    assert RecentFiles(settings(tmp_path)).paths() == []
