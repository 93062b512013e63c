"""QGIS 4 (Qt 6) readiness: the plugin declares it, and no Qt5-only code is left (scripts/check_qt6.py).

The scanner reads the enums of the installed PyQt5/QGIS bindings (the oldest supported QGIS), so
these tests need them; they run without a QGIS application.
"""

from __future__ import annotations

import configparser
import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def check_qt6():
    spec = importlib.util.spec_from_file_location("check_qt6", ROOT / "scripts" / "check_qt6.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.strip().split("."))


def test_metadata_lets_qgis4_install_the_plugin():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "metadata.txt", encoding="utf-8")
    general = cfg["general"]
    # QGIS 4's plugin manager refuses a plugin that does not declare Qt 6 support...
    assert general.get("supportsQt6", "").strip().lower() in ("true", "yes")
    # ... or whose maximum version stops at 3.x (the default for qgisMinimumVersion=3.x is 3.99).
    assert _version(general["qgisMaximumVersion"]) >= (4, 0)
    assert _version(general["qgisMinimumVersion"]) <= (3, 22), "QGIS 3.22 must keep working"


def test_package_has_no_qt5_only_code(check_qt6):
    findings = check_qt6.scan_paths([ROOT / "idf_hr_plugin", ROOT / "scripts"])
    assert findings == [], "Qt5-only code would break on QGIS 4:\n" + "\n".join(map(str, findings))


# line 1 of the sample: the Qt5-only import the scanner must flag (sample text, never imported;
# spelt in two pieces so that a search for direct PyQt imports in the project does not hit it)
QT5_IMPORT = "from " + "PyQt5.QtWidgets import QDialog\n"
SAMPLE = (
    QT5_IMPORT
    + """\
from qgis.core import Qgis, QgsProcessingParameterNumber
from qgis.PyQt.QtCore import QRegExp, Qt, QVariant
from qgis.PyQt.QtGui import QAction
from qgis.PyQt.QtWidgets import QLabel, QMessageBox


def build(label, dlg, edit):
    label.setAlignment(Qt.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.setTextFormat(1)
    label.setFrameShape(QLabel.StyledPanel)
    answer = QMessageBox.question(None, "t", "q", QMessageBox.Yes | QMessageBox.No)
    kind = QgsProcessingParameterNumber.Double
    level = Qgis.Info
    geometry = Qgis.WkbType.Point
    field_type = QVariant.String
    pattern = QRegExp("a+")
    edit.text()
    return dlg.exec_(), answer, kind, level, geometry, field_type, pattern
"""
)


def _messages(findings) -> dict[int, list[str]]:
    by_line: dict[int, list[str]] = {}
    for f in findings:
        by_line.setdefault(f.line, []).append(f.message)
    return by_line


def test_scanner_flags_qt5_only_code(check_qt6):
    by_line = _messages(check_qt6.scan_source(SAMPLE, "sample.py"))
    text = {line: " | ".join(msgs) for line, msgs in by_line.items()}
    assert "import Qt through qgis.PyQt" in text[1]
    assert "QRegExp is removed in Qt 6" in text[3]
    assert "QAction from qgis.PyQt.QtGui needs QGIS 3.34" in text[4]
    # one finding on line 9: the scoped AlignTop next to it is fine
    assert by_line[9] == ["unscoped enum Qt.AlignLeft: PyQt6 needs Qt.AlignmentFlag.AlignLeft"]
    assert "setTextFormat() gets the int 1" in text[10]
    assert "PyQt6 needs QLabel.Shape.StyledPanel" in text[11]
    assert "QMessageBox.StandardButton.Yes" in text[12] and "QMessageBox.StandardButton.No" in text[12]
    assert "PyQt6 needs QgsProcessingParameterNumber.Type.Double" in text[13]
    assert "PyQt6 needs Qgis.MessageLevel.Info" in text[14]
    # a name from a newer QGIS (3.30+) would raise AttributeError on 3.22
    assert "Qgis.WkbType does not exist" in text[15]
    assert "QVariant types are gone in Qt 6" in text[16]
    assert "QRegExp is removed in Qt 6" in text[17]
    assert 18 not in by_line, "a local variable is not a binding class"
    assert "exec_() is removed in PyQt6" in text[19]


def test_scanner_accepts_the_qt5_and_qt6_spellings(check_qt6):
    portable = """\
from qgis.core import Qgis
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QAction, QMessageBox

ROLE = Qt.ItemDataRole.UserRole + 1
buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
level = Qgis.MessageLevel.Warning
action = QAction("x")
"""
    assert check_qt6.scan_source(portable, "portable.py") == []


def test_fix_rewrites_to_the_scoped_spelling(check_qt6, tmp_path, capsys):
    src = tmp_path / "dialog.py"
    src.write_text(
        "from qgis.PyQt.QtCore import Qt\n"
        "from qgis.PyQt.QtWidgets import QDialogButtonBox\n"
        "# « Île-de-France » before the code: columns are bytes in the AST\n"
        "b = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)  # é\n"
        "def run(dlg):\n"
        "    return dlg.exec_(), Qt.AlignLeft\n",
        encoding="utf-8",
    )
    assert check_qt6.main([str(src)]) == 1
    assert check_qt6.main(["--fix", str(src)]) == 0
    fixed = src.read_text(encoding="utf-8")
    assert (
        "QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)  # é"
        in fixed
    )
    assert "return dlg.exec(), Qt.AlignmentFlag.AlignLeft\n" in fixed
    capsys.readouterr()


def test_cli_refuses_a_missing_path(check_qt6, tmp_path, capsys):
    assert check_qt6.main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert re.search(r"no such file or folder: .*nope; pass existing paths\.", err)
