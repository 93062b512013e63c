"""`make package` builds a zip that installs as a plugin folder and loads in real QGIS."""

from __future__ import annotations

import configparser
import importlib.util
import zipfile
from pathlib import Path

from tests.e2e.conftest import QgisProcess

ROOT = Path(__file__).resolve().parents[2]


def _package_module():
    spec = importlib.util.spec_from_file_location("package", ROOT / "scripts" / "package.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_zip_installs_and_loads(tmp_path, _isolated_cache):
    zpath = _package_module().build(tmp_path / "dist")
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "metadata.txt", encoding="utf-8")
    assert zpath.name == f"idf_hr_plugin-{cfg['general']['version']}.zip"
    with zipfile.ZipFile(zpath) as zf:
        names = set(zf.namelist())
        assert all(n.startswith("idf_hr_plugin/") for n in names)
        for required in (
            "idf_hr_plugin/__init__.py",
            "idf_hr_plugin/metadata.txt",
            "idf_hr_plugin/resources/icons/idf_hr.svg",
            "idf_hr_plugin/i18n/idf_hr_fr.qm",
            "idf_hr_plugin/core/opendata/mgp_communes_ept.csv",
        ):
            assert required in names, f"{required} missing from the zip"
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert not any(n.startswith("idf_hr_plugin/tests") for n in names)
        plugins = tmp_path / "plugins"
        zf.extractall(plugins)
    qp = QgisProcess(tmp_path / "profile", plugins, Path(_isolated_cache))
    qp.enable()
    listing = qp("list")
    assert listing.returncode == 0, listing.stderr
    assert "idfhr:catalogsearch" in listing.stdout and "idfhr:downloadimagery" in listing.stdout
