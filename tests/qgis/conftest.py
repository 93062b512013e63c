"""QGIS-side fixtures: a plugin interface backed by a real QMainWindow, event-loop waits."""

from __future__ import annotations

import time

import pytest


class PluginIface:
    """The parts of ``QgisInterface`` the plugin uses, on a real QMainWindow (pytest-qgis leaves them empty).

    Menus, toolbars, docks and options factories really get created and removed, so tests can
    check that ``unload()`` leaves no trace.
    """

    def __init__(self, base) -> None:
        from qgis.PyQt.QtWidgets import QMainWindow

        self._base = base
        self.window = QMainWindow()
        self.canvas = base.mapCanvas()
        self.window.setCentralWidget(self.canvas)
        self.raster_menus: dict[str, object] = {}
        self.options_factories: list = []
        self.docks: list = []
        self.options_dialog_calls: list = []

    def __getattr__(self, name):
        return getattr(self._base, name)

    def mainWindow(self):  # noqa: N802
        return self.window

    def mapCanvas(self):  # noqa: N802
        return self.canvas

    def addToolBar(self, title):  # noqa: N802
        return self.window.addToolBar(title)

    def addPluginToRasterMenu(self, name, action):  # noqa: N802
        menu = self.raster_menus.get(name)
        if menu is None:
            menu = self.window.menuBar().addMenu(name)
            self.raster_menus[name] = menu
        menu.addAction(action)

    def removePluginRasterMenu(self, name, action):  # noqa: N802
        menu = self.raster_menus.get(name)
        if menu is None:
            return
        menu.removeAction(action)
        if not menu.actions():
            self.window.menuBar().removeAction(menu.menuAction())
            del self.raster_menus[name]

    def addDockWidget(self, area, dock):  # noqa: N802
        self.window.addDockWidget(area, dock)
        self.docks.append(dock)

    def removeDockWidget(self, dock):  # noqa: N802
        self.window.removeDockWidget(dock)
        self.docks.remove(dock)

    def registerOptionsWidgetFactory(self, factory):  # noqa: N802
        self.options_factories.append(factory)

    def unregisterOptionsWidgetFactory(self, factory):  # noqa: N802
        self.options_factories.remove(factory)

    def showOptionsDialog(self, parent=None, page=""):  # noqa: N802
        self.options_dialog_calls.append(page)


@pytest.fixture
def plugin_iface(qgis_iface, qgis_new_project):
    iface = PluginIface(qgis_iface)
    yield iface
    # give pytest-qgis its canvas back before the window goes, or later tests use a deleted canvas
    canvas = iface.window.takeCentralWidget()
    if canvas is not None:
        canvas.setParent(None)
    iface.window.close()


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.02):
    """Spin the Qt event loop until ``predicate()`` is true (tasks report on the main thread)."""
    from qgis.PyQt.QtCore import QCoreApplication

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QCoreApplication.processEvents()
        if predicate():
            return True
        time.sleep(interval)
    QCoreApplication.processEvents()
    return predicate()
