"""The plugin in the real QGIS desktop application (under Xvfb): load, dock, unload, load again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, traceback
from qgis.utils import iface, loadPlugin, startPlugin, unloadPlugin, plugins
from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QTimer

OUT = {out!r}

def ids():
    p = QgsApplication.processingRegistry().providerById("idfhr")
    return sorted(a.id() for a in p.algorithms()) if p else []

def run():
    res = {{}}
    try:
        res["loaded"] = loadPlugin("idf_hr_plugin") and startPlugin("idf_hr_plugin")
        plugin = plugins["idf_hr_plugin"]
        plugin.dock.show()
        QgsApplication.processEvents()
        res["tabs"] = [plugin.dock.tabs.tabText(i) for i in range(plugin.dock.tabs.count())]
        res["algorithms"] = ids()
        res["menu"] = "&IdF HR" in [a.text() for a in iface.rasterMenu().actions()]
        iface.mainWindow().grab().save(OUT + ".png")
        res["unloaded"] = unloadPlugin("idf_hr_plugin")
        res["algorithms_after"] = ids()
        res["menu_after"] = "&IdF HR" in [a.text() for a in iface.rasterMenu().actions()]
        res["reloaded"] = loadPlugin("idf_hr_plugin") and startPlugin("idf_hr_plugin")
        res["algorithms_reloaded"] = ids()
        unloadPlugin("idf_hr_plugin")
    except Exception:
        res["error"] = traceback.format_exc()
    json.dump(res, open(OUT, "w"))
    QgsApplication.exit(0)

QTimer.singleShot(2000, run)
"""


def test_real_qgis_desktop_load_unload_reload(tmp_path, _isolated_cache):
    qgis = shutil.which("qgis")
    xvfb = shutil.which("xvfb-run")
    if qgis is None or xvfb is None:
        pytest.fail("qgis or xvfb-run missing: `make test` installs them")
    out = tmp_path / "result.json"
    script = tmp_path / "check.py"
    script.write_text(SCRIPT.format(out=str(out)))
    env = dict(
        os.environ,
        QGIS_PLUGINPATH=str(ROOT),
        PROJ_DATA="/usr/share/proj",
        IDF_HR_CACHE_DIR=str(_isolated_cache),
    )
    env.pop("QT_QPA_PLATFORM", None)
    proc = subprocess.run(
        [
            xvfb,
            "-a",
            "-s",
            "-screen 0 1600x1000x24",
            qgis,
            "--profiles-path",
            str(tmp_path / "profiles"),
            "--nologo",
            "--noversioncheck",
            "--code",
            str(script),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert out.exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert "error" not in res, res.get("error")
    assert res["loaded"] and res["menu"]
    assert res["tabs"][0] in ("Catalog", "Catalogue")
    assert {"idfhr:catalogsearch", "idfhr:downloadimagery"} <= set(res["algorithms"])
    assert res["unloaded"] and not res["menu_after"] and res["algorithms_after"] == []
    assert res["reloaded"] and res["algorithms_reloaded"] == res["algorithms"]
