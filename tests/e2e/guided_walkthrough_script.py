"""Run inside the real QGIS desktop (``qgis --code``) by ``test_guided_walkthrough.py``.

Loads IdF HR, opens the demo project, starts the guided session from the message bar's offer,
and at each step clicks the outlined widget, waits for the step's tick, checks that what the user
needs lies on the screen, and saves a screenshot of the main window. Then Reset. Everything seen
is written as JSON to ``$IDF_HR_WALKTHROUGH_OUT/result.json`` and QGIS quits.
"""

import json
import os
import socket
import time
import traceback

from qgis.core import QgsApplication, QgsProject
from qgis.PyQt.QtCore import QPoint, QRect, QSettings, Qt, QTimer
from qgis.PyQt.QtTest import QTest
from qgis.PyQt.QtWidgets import QApplication, QDialog, QPushButton, QWidget
from qgis.utils import iface, loadPlugin, plugins, startPlugin

OUT = os.environ["IDF_HR_WALKTHROUGH_OUT"]
PROJECT = os.environ["IDF_HR_WALKTHROUGH_PROJECT"]
STEP_TIMEOUT = float(os.environ.get("IDF_HR_WALKTHROUGH_STEP_TIMEOUT", "300"))
res = {"steps": {}, "screens": [], "offscreen": [], "dialogs": []}


def wait(predicate, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        QgsApplication.processEvents()
        if predicate():
            return True
        time.sleep(0.05)
    QgsApplication.processEvents()
    return bool(predicate())


def settle(seconds=0.5):
    wait(lambda: False, seconds)


def on_screen(widget, label):
    """Record ``label`` when ``widget`` is not wholly on the screen or is hidden by a scroll area."""
    screen = QApplication.primaryScreen().geometry()
    rect = QRect(widget.mapToGlobal(QPoint(0, 0)), widget.size())
    if not widget.isVisible() or not screen.contains(rect):
        res["offscreen"].append(f"{label}: {rect.getRect()} outside the screen {screen.getRect()}")
    elif widget.visibleRegion().isEmpty():
        res["offscreen"].append(f"{label}: scrolled out of view")


def shot(name):
    settle(0.3)
    path = os.path.join(OUT, f"{len(res['screens']):02d}_{name}.png")
    iface.mainWindow().grab().save(path)
    res["screens"].append(path)


def click(widget):
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def close_dialogs():
    """Grab, then close, any dialog a step opened (an explanation window, a message box)."""
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.isVisible():
            path = os.path.join(OUT, f"dialog_{len(res['dialogs'])}.png")
            widget.grab().save(path)
            res["dialogs"].append({"title": widget.windowTitle(), "png": path})
            widget.reject()


def click_best_detection():
    """Click, on the map, the highest-scoring object of the detections layer; returns its label."""
    from qgis.core import QgsCoordinateTransform, QgsVectorLayer

    project = QgsProject.instance()
    layers = [
        lyr
        for lyr in project.mapLayers().values()
        if isinstance(lyr, QgsVectorLayer) and lyr.name().startswith("idfhr_demo_detector")
    ]
    if not layers:
        return None
    layer = layers[0]
    best = max(layer.getFeatures(), key=lambda f: f["score"])
    canvas = iface.mapCanvas()
    xform = QgsCoordinateTransform(layer.crs(), canvas.mapSettings().destinationCrs(), project)
    point = xform.transform(best.geometry().pointOnSurface().asPoint())
    pixel = canvas.getCoordinateTransform().transform(point)
    QTest.mouseClick(
        canvas.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        QPoint(int(pixel.x()), int(pixel.y())),
    )
    return best["label"]


def network_state():
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=3).close()  # TEST-NET-1, any route
        return "connected"
    except OSError as exc:
        return f"no network: {exc}"


def statuses(dock):
    return {
        "catalog": dock.catalog_tab.status.text(),
        "detection": dock.detection_tab.status_label.text(),
        "analysis": dock.analysis_tab.status.text(),
        "fibre": dock.fibre_tab.status.text(),
    }


def run():
    try:
        res["network"] = network_state()
        res["locale"] = str(QSettings().value("locale/userLocale", ""))
        win = iface.mainWindow()
        win.setGeometry(QApplication.primaryScreen().availableGeometry())
        res["loaded"] = bool(loadPlugin("idf_hr_plugin") and startPlugin("idf_hr_plugin"))
        plugin = plugins["idf_hr_plugin"]
        dock = plugin.dock
        res["tabs"] = [dock.tabs.tabText(i) for i in range(dock.tabs.count())]
        iface.addProject(PROJECT)
        settle(1.0)
        res["layers"] = sorted(lyr.name() for lyr in QgsProject.instance().mapLayers().values())
        offer = iface.messageBar().findChild(QPushButton, "IdfHrStartGuidedSession")
        res["offered"] = offer is not None
        if offer is None:
            raise RuntimeError("opening the demo project did not offer the guided session")
        res["offer_text"] = offer.text()
        shot("offer")
        click(offer)
        settle(0.5)
        win.resizeDocks([dock], [420], Qt.Orientation.Horizontal)
        session = plugin.guided
        res["screen"] = list(QApplication.primaryScreen().geometry().getRect())
        res["window"] = list(win.frameGeometry().getRect())
        corner = dock.mapToGlobal(QPoint(0, 0))
        res["dock"] = [corner.x(), corner.y(), dock.width(), dock.height()]
        for i, step in enumerate(session.steps):
            if i:
                click(session.next_button)
            settle(0.5)
            target = dock.findChild(QWidget, step.target)
            entry = {
                "index": session.index,
                "title": step.title,
                "tab": dock.tabs.tabText(dock.tabs.currentIndex()),
                "target_found": target is not None,
                "highlighted": target is not None and session.highlighted() is target,
            }
            on_screen(win, f"{step.key}: main window")
            on_screen(dock, f"{step.key}: dock")
            on_screen(session, f"{step.key}: guided panel")
            on_screen(session.next_button, f"{step.key}: Next")
            if target is not None:
                on_screen(target, f"{step.key}: {step.target}")
                entry["enabled"] = target.isEnabled()
                shot(f"{step.key}_todo")
                t0 = time.monotonic()
                click(target)
                if step.key == "explain":  # the "why" map tool is on: click the best detection
                    entry["map_click"] = click_best_detection()
                entry["done"] = wait(lambda key=step.key: session.step_done(key), STEP_TIMEOUT)
                entry["seconds"] = round(time.monotonic() - t0, 1)
                close_dialogs()
            else:
                entry["done"] = False
            entry["text"] = session.step_text.text()
            entry["status"] = statuses(dock)
            res["steps"][step.key] = entry
            shot(step.key)
        project = QgsProject.instance()
        res["layers_after"] = sorted(lyr.name() for lyr in project.mapLayers().values())
        click(session.reset_button)
        settle(1.0)
        res["reset"] = {
            "index": session.index,
            "done": sorted(session.done),
            "layers": sorted(lyr.name() for lyr in project.mapLayers().values()),
            "results": dock.catalog_tab.results.count(),
            "tab": dock.tabs.tabText(dock.tabs.currentIndex()),
        }
        shot("reset")
    except Exception:
        res["error"] = traceback.format_exc()
    with open(os.path.join(OUT, "result.json"), "w", encoding="utf-8") as f:
        json.dump(res, f, ensure_ascii=False, indent=1)
    QgsApplication.exit(0)


QTimer.singleShot(2000, run)
