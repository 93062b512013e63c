"""Publishing results: ``qgis_process run idfhr:publishresult`` and the ``publish`` / ``shared-results`` CLI,
against a real PostgreSQL + PostGIS server and a results catalog folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from idf_hr_plugin.core.sharing import runs_from_catalog, runs_from_postgis
from tests.e2e.test_publish_model import _cli
from tests.postgis import DB, READER, WRITER
from tests.sharing_data import detections_gpkg

ROOT = Path(__file__).resolve().parents[2]


def _save_pg_connection(qgis_process, name: str, postgis, role) -> None:
    """A PostgreSQL connection saved in the qgis_process profile, as the Data Source Manager saves it."""
    ini = Path(qgis_process.env["QGIS_CUSTOM_CONFIG_PATH"]) / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    from qgis.PyQt.QtCore import QSettings

    s = QSettings(str(ini), QSettings.Format.IniFormat)
    base = f"PostgreSQL/connections/{name}/"
    for k, v in {
        "host": "127.0.0.1",
        "port": str(postgis.port),
        "database": DB,
        "username": role[0],
        "password": role[1],
        "saveUsername": "true",
        "savePassword": "true",
        "sslmode": "SslDisable",
        "authcfg": "",
    }.items():
        s.setValue(base + k, v)
    s.sync()


def test_publishresult_writes_the_item_and_the_rows_that_partners_browse(qgis_process, postgis, tmp_path):
    _save_pg_connection(qgis_process, "shared", postgis, WRITER)
    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 30, run_id="qp-1")
    catalog = tmp_path / "share" / "results"
    res = qgis_process.run(
        "idfhr:publishresult",
        {
            "INPUT": f"{gpkg}|layername={layer}",
            "PARTNER": "Vincennes",
            "CATALOG": str(catalog),
            "CONNECTION": "shared",
        },
        timeout=300,
    )
    assert res["_returncode"] == 0, res["_stderr"] + res["_stdout"]
    out = res["results"]
    assert out["RUN_ID"] == "qp-1" and int(out["ROWS"]) == 30
    item = Path(out["ITEM"])
    rustac = shutil.which("rustac") or str(Path(sys.executable).parent / "rustac")
    valid = subprocess.run([rustac, "validate", str(item)], capture_output=True, text=True, timeout=60)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    (stac_run,) = runs_from_catalog(str(catalog))
    assert stac_run.run_id == "qp-1" and stac_run.partner == "Vincennes" and stac_run.features == 30
    (pg_run,) = [r for r in runs_from_postgis(postgis.dsn(READER)) if r.run_id == "qp-1"]
    assert pg_run.partner == "Vincennes" and pg_run.features == 30

    listed = _cli(
        "shared-results", "--postgis", postgis.dsn(READER), "--class", "pool", "--partner", "vincennes"
    )
    assert listed.returncode == 0, listed.stderr
    assert "qp-1" in {r["run_id"] for r in json.loads(listed.stdout)}


def test_publishresult_without_a_destination_is_a_clear_error(qgis_process, tmp_path):
    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 3)
    res = qgis_process.run(
        "idfhr:publishresult", {"INPUT": f"{gpkg}|layername={layer}", "PARTNER": "Vincennes"}
    )
    assert res["_returncode"] != 0
    assert "Say where to publish" in res["_stderr"] + res["_stdout"]


def _publish_cmd(*args: str) -> list:
    return [sys.executable, "-m", "idf_hr_plugin", "publish", *args]


def test_cli_concurrent_publishers_both_land_in_the_catalog_and_the_database(postgis, tmp_path):
    catalog = tmp_path / "results"
    procs = []
    for i, partner in enumerate(("Vincennes", "Montreuil")):
        gpkg, _ = detections_gpkg(tmp_path / f"p{i}.gpkg", 2000, run_id=f"conc-{i}", seed=10 + i)
        cmd = _publish_cmd(
            str(gpkg), "--partner", partner, "--catalog", str(catalog), "--postgis", postgis.dsn()
        )
        env = {**os.environ, "HOME": tempfile.gettempdir(), "PROJ_DATA": "/usr/share/proj"}
        procs.append(
            subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "published" in out
    runs = {(r.partner, r.run_id) for r in runs_from_catalog(str(catalog))}
    assert runs == {("Vincennes", "conc-0"), ("Montreuil", "conc-1")}
    rows = postgis.psql(
        DB, "SELECT partner, count(*) FROM idfhr_results WHERE run_id LIKE 'conc-%' GROUP BY 1 ORDER BY 1"
    )
    assert rows.split() == ["Montreuil|2000", "Vincennes|2000"]


def test_cli_read_only_catalog_folder_is_refused_and_nothing_lost(tmp_path):
    import pwd

    if os.getuid() != 0:
        pytest.fail("run as root (as `make test` does) to act as another account")
    pwd.getpwnam("nobody")
    share = Path(tempfile.mkdtemp(prefix="idfhr-results-"))
    try:
        share.chmod(0o755)
        gpkg, _ = detections_gpkg(share / "in.gpkg", 5, run_id="ro-cat")  # readable by everyone
        gpkg.chmod(0o644)
        ok = _cli("publish", str(gpkg), "--partner", "Vincennes", "--catalog", str(share / "results"))
        assert ok.returncode == 0, ok.stderr
        for p in (share / "results").rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        before = {p: p.read_bytes() for p in share.rglob("*") if p.is_file()}
        refused = _cli(
            "publish", str(gpkg), "--partner", "Montreuil", "--catalog", str(share / "results"), user="nobody"
        )
        assert refused.returncode == 2
        assert "cannot be written" in refused.stderr and "nothing was published" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert {p: p.read_bytes() for p in share.rglob("*") if p.is_file()} == before
    finally:
        shutil.rmtree(share, ignore_errors=True)


def test_cli_unreachable_database_and_select_only_role_exit_2_with_one_sentence(postgis, tmp_path):
    import socket

    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 5, run_id="cli-ro")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = _cli(
        "publish",
        str(gpkg),
        "--partner",
        "Vincennes",
        "--postgis",
        f"host=127.0.0.1 port={port} dbname=x user=y connect_timeout=5",
    )
    assert down.returncode == 2 and "cannot be reached" in down.stderr and "Traceback" not in down.stderr
    ro = _cli("publish", str(gpkg), "--partner", "Vincennes", "--postgis", postgis.dsn(READER))
    assert (
        ro.returncode == 2
        and "may not write the shared results" in ro.stderr
        and "Traceback" not in ro.stderr
    )
    assert postgis.psql(DB, "SELECT count(*) FROM idfhr_results WHERE run_id = 'cli-ro'").strip() in ("0", "")
