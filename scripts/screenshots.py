"""Render README screenshots of the dock from an offscreen QGIS (``make screenshots``).

Builds a main window with a map canvas and the IdF HR dock, runs a real search on the demo
region, adds the 2026 mosaic, and saves PNGs of the window into ``docs/``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
ROOT = Path(__file__).resolve().parent.parent
DOCK_WIDTH, DOCK_HEIGHT = 420, 600
sys.path.insert(0, str(ROOT))


class ScreenshotIface:
    """Just enough of QgisInterface for the plugin, on a real main window."""

    def __init__(self, window, canvas, bar) -> None:
        self.window, self.canvas, self.bar = window, canvas, bar
        self.menus = {}

    def mainWindow(self):  # noqa: N802
        return self.window

    def mapCanvas(self):  # noqa: N802
        return self.canvas

    def messageBar(self):  # noqa: N802
        return self.bar

    def addToolBar(self, title):  # noqa: N802
        return self.window.addToolBar(title)

    def addPluginToRasterMenu(self, name, action):  # noqa: N802
        if name not in self.menus:
            self.menus[name] = self.window.menuBar().addMenu(name)
        self.menus[name].addAction(action)

    def removePluginRasterMenu(self, name, action):  # noqa: N802
        pass

    def addDockWidget(self, area, dock):  # noqa: N802
        self.window.addDockWidget(area, dock)

    def removeDockWidget(self, dock):  # noqa: N802
        self.window.removeDockWidget(dock)

    def registerOptionsWidgetFactory(self, factory):  # noqa: N802
        pass

    def unregisterOptionsWidgetFactory(self, factory):  # noqa: N802
        pass


def wait(predicate, timeout=120.0):
    from qgis.PyQt.QtCore import QCoreApplication

    end = time.monotonic() + timeout
    while time.monotonic() < end and not predicate():
        QCoreApplication.processEvents()
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="docs")
    parser.add_argument("--lang", default="fr")
    args = parser.parse_args()
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)

    from qgis.core import QgsApplication, QgsProject, QgsRectangle
    from qgis.gui import QgsMapCanvas, QgsMessageBar
    from qgis.PyQt.QtCore import QSettings
    from qgis.PyQt.QtWidgets import QMainWindow, QVBoxLayout, QWidget

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], True)
    app.initQgis()
    QSettings().setValue("locale/overrideFlag", True)
    QSettings().setValue("locale/userLocale", args.lang)

    import idf_hr_plugin
    from idf_hr_plugin.demo import ensure_demo_region

    region = ensure_demo_region()
    window = QMainWindow()
    # a 1366 × 768 laptop with the dock at 420 px: what the README shows is what fits there (issue 9)
    window.resize(1366, 768)
    central = QWidget()
    layout = QVBoxLayout(central)
    bar = QgsMessageBar()
    canvas = QgsMapCanvas()
    layout.addWidget(bar)
    layout.addWidget(canvas)
    window.setCentralWidget(central)
    iface = ScreenshotIface(window, canvas, bar)
    plugin = idf_hr_plugin.classFactory(iface)
    plugin.initGui()
    plugin.dock.show()
    window.show()
    from qgis.PyQt.QtCore import Qt

    window.resizeDocks([plugin.dock], [DOCK_WIDTH], Qt.Orientation.Horizontal)
    project = QgsProject.instance()
    canvas.setDestinationCrs(project.crs())
    tab = plugin.dock.catalog_tab
    for i in range(tab.source_combo.count()):
        if tab.source_combo.itemData(i).id == "demo":
            tab.source_combo.setCurrentIndex(i)
    from qgis.core import QgsCoordinateReferenceSystem

    tab.set_drawn_extent(QgsRectangle(*region.bounds), QgsCoordinateReferenceSystem("EPSG:2154"))
    tab.search_button.click()
    wait(lambda: tab.task is None and tab.thumb_task is None and tab.results.count() > 0)
    wait(lambda: tab.thumb_task is None)
    for row in range(tab.results.count()):
        item = tab.items[row]
        if item.year == 2026 and item.gsd and abs(item.gsd - 0.2) < 1e-6:
            tab.results.item(row).setSelected(True)
    layers = tab.add_selected_to_map()
    layer_list = [tab.footprints_layer()] + layers
    canvas.setLayers([lyr for lyr in layer_list if lyr is not None])
    canvas.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:2154"))
    cx, cy = (region.bounds[0] + region.bounds[2]) / 2, (region.bounds[1] + region.bounds[3]) / 2
    canvas.setExtent(QgsRectangle(cx - 150, cy - 100, cx + 150, cy + 100))
    canvas.refreshAllLayers()
    for _ in range(3):
        app.processEvents()
        canvas.waitWhileRendering()
        time.sleep(0.3)
    window.grab().save(str(out / "dock_catalog.png"))
    # each other tab as the dock alone, 420 × 600
    plugin.dock.setFloating(True)
    plugin.dock.detection_tab.card_toggle.setChecked(True)  # the Detection tab shows its model card
    for i in range(1, plugin.dock.tabs.count()):
        plugin.dock.tabs.setCurrentIndex(i)
        plugin.dock.resize(DOCK_WIDTH, DOCK_HEIGHT)
        for _ in range(3):
            app.processEvents()
        name = type(plugin.dock.tabs.widget(i)).__name__.lower()
        plugin.dock.grab().save(str(out / f"dock_{name}.png"))
    plugin.unload()
    print("\n".join(str(p) for p in sorted(out.glob("dock_*.png"))))
    sys.stdout.flush()
    # PyQGIS can crash tearing down a GUI application whose widgets outlive it; the images are
    # written, so leave without the teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
