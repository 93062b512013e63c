"""Start a QGIS application without a GUI for the CLI, the demo job and scripts."""

from __future__ import annotations

import os

_app = None


def ensure_qgis_app():
    """Return a running ``QgsApplication`` (creates a headless one if none exists)."""
    global _app
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
    from qgis.core import QgsApplication

    existing = QgsApplication.instance()
    if existing is not None:
        return existing
    QgsApplication.setPrefixPath("/usr", True)
    _app = QgsApplication([], False)
    _app.initQgis()
    return _app
