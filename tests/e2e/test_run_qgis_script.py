"""``make qgis`` (scripts/run_qgis.sh) gives QGIS's Python the venv's ONNX Runtime."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Stands in for the QGIS binary: QGIS embeds /usr/bin/python3 and honours PYTHONPATH the same way.
FAKE_QGIS = """#!/bin/sh
exec /usr/bin/python3 -c '
import os, sys
sys.path.insert(0, os.environ["QGIS_PLUGINPATH"])
from qgis.core import Qgis
import numpy
from idf_hr_plugin.gis.onnx_runtime_install import onnxruntime_available
import onnxruntime
print("ORT", onnxruntime_available(), onnxruntime.get_available_providers()[-1])
print("NUMPY", numpy.__file__)
'
"""


def test_run_qgis_puts_the_venv_onnxruntime_on_qgis_path(tmp_path):
    fake = tmp_path / "qgis"
    fake.write_text(FAKE_QGIS)
    fake.chmod(0o755)
    env = dict(os.environ)
    env.update(
        VENV=sys.prefix,  # the venv running the tests, as `make qgis` uses .venv
        QGIS_BIN=str(fake),
        IDF_HR_QGIS_PROFILE=str(tmp_path / "profile"),
        QT_QPA_PLATFORM="offscreen",
    )
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(ROOT / "scripts" / "run_qgis.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "ORT True CPUExecutionProvider" in proc.stdout
    # QGIS keeps its own numpy (the one its GDAL is built against), never the venv's
    numpy_line = next(line for line in proc.stdout.splitlines() if line.startswith("NUMPY"))
    assert sys.prefix not in numpy_line
