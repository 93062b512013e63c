"""The guided session's steps are plain data (issue 9 item 11): six steps, each with a tab, a target
widget and a completion check the GUI implements."""

from __future__ import annotations

import ast
from pathlib import Path

from idf_hr_plugin.core import guided_session as gs

GUI = Path(gs.__file__).resolve().parents[1] / "gui" / "guided_session.py"


def test_six_steps_in_the_training_order_with_texts():
    steps = gs.steps()
    assert [s.key for s in steps] == ["search", "stream", "detect", "explain", "change", "fibre"]
    for s in steps:
        assert s.title and len(s.text) > 40, s
        assert s.tab in gs.TABS and s.check in gs.CHECK_NAMES, s
    assert steps[3].target == "whyDetectionButton"  # the Detection tab's "why" button, by objectName
    assert len({s.target for s in steps}) == len(steps)
    assert gs.step_label(2, steps[2], True) == "✓ 3. Detect objects"
    assert gs.step_label(0, steps[0], False) == "○ 1. Search the catalog"


def test_steps_are_translated_when_asked_for(monkeypatch):
    from idf_hr_plugin.core import i18n

    french = {"Detect objects": "Détecter les objets"}
    i18n.set_translator(lambda text: french.get(text, text))
    try:
        assert gs.steps()[2].title == "Détecter les objets"
    finally:
        i18n.set_translator(None)
    assert gs.steps()[2].title == "Detect objects"


def test_the_gui_implements_every_check():
    tree = ast.parse(GUI.read_text(encoding="utf-8"))
    methods = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert {f"_check_{name}" for name in gs.CHECK_NAMES} <= methods
