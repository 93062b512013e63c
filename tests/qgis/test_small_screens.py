"""Every tab of the dock is usable at 420 × 600 px (a 1366 × 768 laptop), in French (issue 9 item 4).

The dock is floated and resized to 420 × 600 in a real QMainWindow; for each tab the dock's
minimum size must fit, and the widgets a user needs (run/cancel, progress, status) must lie
inside the dock, not clipped by a scroll area or by the dock's edge, with their text not cut.
"""

from __future__ import annotations

import pytest
from qgis.PyQt.QtCore import QPoint, QRect, Qt
from qgis.PyQt.QtWidgets import QAbstractButton, QApplication, QWidget  # noqa

import idf_hr_plugin
from idf_hr_plugin.gis.i18n import install_translator, remove_translator

WIDTH, HEIGHT = 420, 600

# tab attribute -> widgets that must stay in view
KEY_WIDGETS = {
    "catalog_tab": ("search_button", "cancel_button", "progress", "status", "add_button"),
    "detection_tab": ("run_button", "cancel_button", "progress", "status_label", "summary_label"),
    "opendata_tab": ("search_button", "cancel_button", "progress", "status"),
    "fibre_tab": ("compute_button", "cancel_button", "progress", "status"),
    "analysis_tab": ("stats_button", "cancel_button", "progress", "status"),
}


@pytest.fixture
def small_dock(plugin_iface):
    translator = install_translator("fr")
    assert translator is not None, "i18n/idf_hr_fr.qm missing: run `make i18n`"
    plugin = idf_hr_plugin.classFactory(plugin_iface)
    plugin.initGui()
    window = plugin_iface.window
    window.resize(1366, 768)
    window.show()
    dock = plugin.dock
    dock.setFloating(True)
    dock.show()
    dock.resize(WIDTH, HEIGHT)
    QApplication.processEvents()
    yield dock
    plugin.unload()
    remove_translator(translator)


def _settle(dock) -> None:
    for _ in range(3):
        QApplication.processEvents()
    dock.resize(WIDTH, HEIGHT)
    for _ in range(3):
        QApplication.processEvents()


def _problems(dock, tab_attr: str, names) -> list[str]:
    tab = getattr(dock, tab_attr)
    dock.tabs.setCurrentWidget(tab)
    _settle(dock)
    out = []
    hint = dock.minimumSizeHint()
    if hint.width() > WIDTH or hint.height() > HEIGHT:
        out.append(f"{tab_attr}: dock needs {hint.width()}×{hint.height()} px")
    if dock.width() > WIDTH or dock.height() > HEIGHT:
        out.append(f"{tab_attr}: dock grew to {dock.width()}×{dock.height()} px")
    scroll = getattr(tab, "scroll_area", None)
    if scroll is not None and scroll.widget().minimumSizeHint().width() > scroll.viewport().width():
        out.append(
            f"{tab_attr}: form needs {scroll.widget().minimumSizeHint().width()} px, "
            f"the dock shows {scroll.viewport().width()} px (cut on the right)"
        )
    for name in names:
        widget = getattr(tab, name)
        if not widget.isVisible():
            out.append(f"{tab_attr}.{name} hidden")
            continue
        rect = QRect(widget.mapTo(dock, QPoint(0, 0)), widget.size())
        if not dock.rect().contains(rect):
            out.append(f"{tab_attr}.{name} at {rect.getRect()} outside the dock {dock.rect().getRect()}")
        if widget.visibleRegion().boundingRect() != widget.rect():
            out.append(f"{tab_attr}.{name} clipped to {widget.visibleRegion().boundingRect().getRect()}")
        if isinstance(widget, QAbstractButton) and widget.width() < widget.sizeHint().width():
            out.append(f"{tab_attr}.{name} text cut ({widget.width()} < {widget.sizeHint().width()} px)")
    return out


@pytest.mark.parametrize("tab_attr", list(KEY_WIDGETS))
def test_tab_usable_in_420x600_dock_in_french(small_dock, tab_attr):
    problems = _problems(small_dock, tab_attr, KEY_WIDGETS[tab_attr])
    assert problems == [], "\n".join(problems)


def test_detection_progress_visible_with_model_card_and_runtime_install(small_dock):
    """The card is collapsed by default; opened, progress and status still show; Install is not cut."""
    tab = small_dock.detection_tab
    assert not tab.card_label.isVisibleTo(tab), "the model card should start collapsed"
    tab.card_toggle.setChecked(True)
    tab.runtime_box.setVisible(True)
    tab.install_button.setVisible(True)
    tab.status_label.setText(
        "Le modèle n'a pas pu être lu : le fichier est peut-être incomplet. Téléchargez-le de nouveau."
    )
    problems = _problems(
        small_dock,
        "detection_tab",
        ("run_button", "cancel_button", "progress", "status_label", "install_button", "download_button"),
    )
    assert tab.card_label.isVisible()
    assert problems == [], "\n".join(problems)


def test_fibre_column_pickers_readable_and_dock_keeps_its_width(small_dock):
    """Column pickers take the dock's width (not ~70 px) and long column names don't widen the dock."""
    tab = small_dock.fibre_tab
    small_dock.tabs.setCurrentWidget(tab)
    _settle(small_dock)
    for combo in tab.column_combos.values():
        combo.addItem("Nombre de locaux raccordables FttH au 4e trimestre 2025 (source ARCEP)")
        combo.setCurrentIndex(combo.count() - 1)
    tab.quarter_combo.addItem("Tous les trimestres (Contrôleur temporel) — très long libellé de test")
    _settle(small_dock)
    assert small_dock.width() <= WIDTH
    assert small_dock.minimumSizeHint().width() <= WIDTH
    narrow = {r: c.width() for r, c in tab.column_combos.items() if c.width() < 200}
    assert narrow == {}, f"column pickers narrower than 200 px: {narrow}"
    rows = (tab.ftth_file, tab.premises_file, tab.boundaries_file, tab.ipe_file)
    assert [row.edit.width() >= 200 for row in rows] == [True] * 4, "file paths squeezed"


def test_dock_default_width_not_wider_than_small_screen(small_dock):
    # docked (not floating) the dock asks no more than 420 px of width on any tab
    small_dock.setFloating(False)
    for attr in KEY_WIDGETS:
        small_dock.tabs.setCurrentWidget(getattr(small_dock, attr))
        QApplication.processEvents()
        assert small_dock.minimumSizeHint().width() <= WIDTH, attr
    assert small_dock.allowedAreas() & Qt.DockWidgetArea.RightDockWidgetArea


def test_options_sources_table_shows_name_and_kind_whole(qgis_app):
    """Issue 9 item 5: the Name and Kind columns of the sources table are not truncated."""
    from idf_hr_plugin.gui.options import IdfHrOptionsPage

    translator = install_translator("fr")
    try:
        page = IdfHrOptionsPage()
        page.resize(700, 500)
        page.show()
        QApplication.processEvents()
        table = page.table
        metrics = table.fontMetrics()
        cut = []
        for row in range(table.rowCount()):
            for column in (0, 1):
                text = table.item(row, column).text()
                if table.columnWidth(column) < metrics.horizontalAdvance(text) + 6:
                    cut.append(f"{text!r} in {table.columnWidth(column)} px")
        assert table.rowCount() > 0 and cut == []
        page.close()
    finally:
        remove_translator(translator)


def test_why_detection_button_reachable_and_not_cut(small_dock):
    """The "Why this detection?" button (issue 9 item 10) scrolls into view whole, and widens nothing."""
    tab = small_dock.detection_tab
    small_dock.tabs.setCurrentWidget(tab)
    _settle(small_dock)
    button = tab.findChild(QAbstractButton, "whyDetectionButton")
    assert button is tab.why_button
    tab.scroll_area.ensureWidgetVisible(button)
    _settle(small_dock)
    problems = _problems(small_dock, "detection_tab", ("why_button", "run_button", "progress"))
    assert problems == [], "\n".join(problems)
