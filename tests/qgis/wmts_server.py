"""A real WMTS tile server for tests: Debian's ``qgis_mapserver`` serving a QGIS project over a GeoTIFF."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_wmts_project(raster: Path, project: Path, title: str = "Orthophoto test") -> Path:
    """A .qgs publishing ``raster`` as one WMTS layer in Web Mercator and Lambert-93 grids."""
    from qgis.core import QgsCoordinateReferenceSystem, QgsProject, QgsRasterLayer

    p = QgsProject()
    p.setCrs(QgsCoordinateReferenceSystem("EPSG:2154"))
    layer = QgsRasterLayer(str(raster), "ortho", "gdal")
    assert layer.isValid()
    p.addMapLayer(layer)
    ext = layer.extent()
    p.setTitle(title)
    p.writeEntry("WMSRootName", "/", "ortho_test")
    p.writeEntry("WMSServiceCapabilities", "/", True)
    p.writeEntry("WMSServiceTitle", "/", title)
    p.writeEntry(
        "WMSExtent", "/", [str(v) for v in (ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum())]
    )
    p.writeEntry("WMTSLayers", "Project", True)
    p.writeEntry("WMTSJpegLayers", "Project", True)
    p.writeEntry("WMTSPngLayers", "Project", False)
    p.writeEntry("WMTSLayers", "Layer", [layer.id()])
    p.writeEntry("WMTSJpegLayers", "Layer", [layer.id()])
    p.writeEntry("WMTSGrids", "CRS", ["EPSG:3857", "EPSG:2154"])
    p.writeEntry(
        "WMTSGrids",
        "Config",
        [
            "EPSG:3857,-20037508.3427892,20037508.3427892,559082264.029,20",
            "EPSG:2154,12000000,0,100000000,20",
        ],
    )
    assert p.write(str(project))
    return project


class WmtsServer:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def capabilities_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?SERVICE=WMTS&REQUEST=GetCapabilities"

    def __enter__(self) -> WmtsServer:
        exe = shutil.which("qgis_mapserver")
        assert exe, "qgis_mapserver not found: `make test` installs qgis-server"
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QGIS_PROJECT_FILE=str(self.project))
        self.log = open(self.project.with_suffix(".log"), "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [exe, "-p", str(self.project), f"127.0.0.1:{self.port}"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.capabilities_url, timeout=2) as r:  # noqa: S310
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("qgis_mapserver did not start")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
        self.log.close()
