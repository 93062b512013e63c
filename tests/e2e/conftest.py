"""Run ``qgis_process`` (the real QGIS command line) with the plugin installed in a throwaway profile."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"


class QgisProcess:
    def __init__(self, config_dir: Path, plugin_path: Path, cache_dir: Path) -> None:
        self.env = dict(os.environ)
        self.env.update(
            QGIS_CUSTOM_CONFIG_PATH=str(config_dir),
            QGIS_PLUGINPATH=str(plugin_path),
            QT_QPA_PLATFORM="offscreen",
            PROJ_DATA="/usr/share/proj",
            IDF_HR_CACHE_DIR=str(cache_dir),
        )

    def __call__(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [QGIS_PROCESS, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def run(self, algorithm: str, params: dict, timeout: float = 600) -> dict:
        """``qgis_process run ALG --json`` with parameters passed as JSON on stdin-free argv."""
        argv = ["run", algorithm, "--json", "--"]
        argv += [f"{k}={v}" for k, v in params.items()]
        proc = self(*argv, timeout=timeout)
        out = proc.stdout[proc.stdout.find("{") :] if "{" in proc.stdout else ""
        result = json.loads(out) if out else {}
        result["_returncode"] = proc.returncode
        result["_stderr"] = proc.stderr
        result["_stdout"] = proc.stdout
        return result

    def enable(self, plugin: str = "idf_hr_plugin") -> None:
        proc = self("plugins", "enable", plugin)
        assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="session")
def qgis_process(tmp_path_factory, _isolated_cache):
    if not Path(QGIS_PROCESS).exists():
        pytest.fail("qgis_process.bin not found: run `make test`, which installs QGIS")
    qp = QgisProcess(tmp_path_factory.mktemp("qgis_profile"), ROOT, Path(_isolated_cache))
    qp.enable()
    return qp
