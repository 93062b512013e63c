"""The one-click ONNX Runtime install in a fresh QGIS: after it, the Detection tab works at once.

A fresh QGIS is simulated by a child process whose ``sys.path`` has every package of this venv
except onnxruntime and onnx. The install is the real one (pip into the profile's dependency
folder), fed offline with a wheel repacked from this venv's own onnxruntime.
"""

from __future__ import annotations

import json
import subprocess  # nosec B404 - the fresh QGIS under test is our own child process
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import make_test_models  # noqa: E402

FRESH_QGIS = r"""
import json, os, sys, time
from pathlib import Path

site_dir, filtered, profile, models = sys.argv[1:5]
sys.path[:] = [filtered if p == site_dir else p for p in sys.path]
import importlib.util
assert importlib.util.find_spec("onnxruntime") is None and importlib.util.find_spec("onnx") is None

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtWidgets import QMainWindow

app = QgsApplication([], True, profile)
app.initQgis()
from qgis.gui import QgsMapCanvas, QgsMessageBar

from idf_hr_plugin.gis.settings import Settings
from idf_hr_plugin.gui.detection_tab import DetectionTab


class Iface:  # the parts of QgisInterface the tab uses, on real widgets
    def __init__(self, window):
        self.window, self.canvas, self.bar = window, QgsMapCanvas(window), QgsMessageBar(window)

    def mainWindow(self):
        return self.window

    def mapCanvas(self):
        return self.canvas

    def messageBar(self):
        return self.bar


Settings.DETECTION_MODELS_DIR.set(models)
window = QMainWindow()
iface = Iface(window)


def state(tab):
    entries = tab.registry().entries()
    return {
        "runtime_box": tab.runtime_box.isVisibleTo(tab),
        "run_enabled": tab.run_button.isEnabled(),
        "errors": {e.path.name: e.error for e in entries},
        "usable": sorted(e.path.name for e in entries if e.spec is not None),
        "current": tab.current_entry().path.name if tab.current_entry() else None,
        "status": tab.status_label.text(),
        "provider": tab.provider_label.text(),
    }


tab = DetectionTab(iface, window)
before = state(tab)
tab.install_runtime()
end = time.monotonic() + 300
while tab.install_task is not None and time.monotonic() < end:
    QCoreApplication.processEvents()
    time.sleep(0.05)
after = state(tab)
from idf_hr_plugin.core.inference.model import create_session

entry = tab.current_entry()
if entry is not None and entry.spec is not None:  # the model Run would use
    sess, _ = create_session(entry.spec, threads=1)
    after["session_inputs"] = [i.name for i in sess.get_inputs()]
import onnxruntime
after["onnxruntime_from"] = onnxruntime.__file__
after["onnx_imported"] = "onnx" in sys.modules
print("RESULT " + json.dumps({"before": before, "after": after}), flush=True)
tab.shutdown()
"""


def _wheel_from_installed(dist_info: Path, folder: Path) -> Path:
    """A wheel of an installed distribution, repacked from its own files (RECORD): no network."""
    site = dist_info.parent
    tags = [
        ln.split(":", 1)[1].strip()
        for ln in (dist_info / "WHEEL").read_text().splitlines()
        if ln.startswith("Tag:")
    ]
    name, version = dist_info.name[: -len(".dist-info")].rsplit("-", 1)
    whl = folder / f"{name}-{version}-{tags[-1]}.whl"
    with zipfile.ZipFile(whl, "w", zipfile.ZIP_STORED) as z:
        for line in (dist_info / "RECORD").read_text().splitlines():
            rel = line.rsplit(",", 2)[0]
            if rel and not rel.startswith("..") and (site / rel).is_file():
                z.write(site / rel, rel)
    return whl


@pytest.mark.timeout(600)
def test_install_in_a_fresh_qgis_makes_the_tab_usable_at_once(tmp_path):
    import onnxruntime

    site = Path(onnxruntime.__file__).resolve().parents[1]
    filtered = tmp_path / "site-without-onnxruntime"
    filtered.mkdir()
    for item in site.iterdir():
        if not item.name.lower().startswith("onnx"):
            (filtered / item.name).symlink_to(item)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel_from_installed(next(site.glob("onnxruntime-*.dist-info")), wheels)
    models = tmp_path / "models"
    models.mkdir()
    make_test_models.build("yolov8.onnx", models)
    profile = tmp_path / "profile"
    profile.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "QT_QPA_PLATFORM": "offscreen",
        "PROJ_DATA": "/usr/share/proj",
        "PIP_NO_INDEX": "1",  # pip's own settings: install from the local wheel only
        "PIP_FIND_LINKS": str(wheels),
    }
    proc = subprocess.run(  # nosec B603 - fixed interpreter and arguments
        [sys.executable, "-c", FRESH_QGIS, str(site), str(filtered), str(profile), str(models)],
        capture_output=True,
        text=True,
        env=env,
        timeout=540,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads(lines[-1][len("RESULT ") :])
    before, after = res["before"], res["after"]

    # a fresh QGIS: the tab says the runtime is missing, and the models say why they cannot run
    assert before["runtime_box"] and not before["run_enabled"]
    assert before["usable"] == [] and before["errors"]["yolov8.onnx"].startswith(
        "ONNX Runtime is not installed"
    )

    # right after the install, in the same session: models read, Run enabled, nothing to restart
    assert not after["runtime_box"] and after["run_enabled"], after
    assert "yolov8.onnx" in after["usable"] and not any(after["errors"].values()), after["errors"]
    assert after["current"] in after["usable"] and after.get("session_inputs")
    assert "detections can run now" in after["status"] and "not installed" not in after["provider"]
    deps = profile / "python" / "idf_hr_deps"
    assert after["onnxruntime_from"].startswith(str(deps))  # the plugin's folder, not QGIS's packages
    assert not after["onnx_imported"] and not list(deps.glob("onnx-*"))  # onnx is not needed at run time


def test_runtime_that_cannot_load_says_restart_qgis_with_a_button(plugin_iface, monkeypatch, tmp_path):
    from idf_hr_plugin.gui.detection_tab import DetectionTab

    t = DetectionTab(plugin_iface, plugin_iface.window)
    try:
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # installed, but not loadable in this process
        assert t.runtime_installed(str(tmp_path)) is False
        assert t.runtime_box.isVisibleTo(t) and t.restart_button.isVisibleTo(t)
        assert not t.install_button.isVisibleTo(t) and not t.run_button.isEnabled()
        assert "Restart QGIS, then run the detection" in t.runtime_label.text()
        assert str(tmp_path) in t.status_label.text()
    finally:
        t.shutdown()
