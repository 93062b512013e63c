"""Open a QGIS project in a fresh process, as QGIS Desktop does, and print what a user would see.

``python tests/e2e/open_project.py PROJECT.qgz`` prints one JSON object: every layer (name,
provider, source, valid), the map canvas extent and scale after opening, the project's path mode.
Run it under ``unshare -n`` to prove a project opens with the network off.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PROJ_DATA", "/usr/share/proj")

from qgis.core import QgsApplication, QgsProject  # noqa: E402
from qgis.gui import QgsMapCanvas  # noqa: E402

app = QgsApplication([], True)
QgsApplication.setPrefixPath("/usr", True)
app.initQgis()
canvas = QgsMapCanvas()  # listens to QgsProject.readProject like the desktop's canvas
canvas.setObjectName("theMapCanvas")
canvas.resize(1200, 900)
project = QgsProject.instance()
# as in QGIS Desktop, the main canvas follows the project CRS
project.crsChanged.connect(lambda: canvas.setDestinationCrs(project.crs()))
ok = project.read(sys.argv[1])
ext = canvas.extent()
out = {
    "read": ok,
    "error": project.error(),
    "absolute_paths": project.readBoolEntry("Paths", "/Absolute", True)[0],
    "crs": canvas.mapSettings().destinationCrs().authid(),
    "extent": [ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum()],
    "scale": canvas.scale(),
    "layers": [
        {
            "name": lyr.name(),
            "provider": lyr.providerType(),
            "source": lyr.source(),
            "valid": lyr.isValid(),
            "licences": lyr.metadata().licenses(),
            "abstract": lyr.metadata().abstract(),
        }
        for lyr in project.mapLayers().values()
    ],
}
print(json.dumps(out))
sys.stdout.flush()
os._exit(0)  # skip exitQgis teardown crashes of headless QGIS 3.22
