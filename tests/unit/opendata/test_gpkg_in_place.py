"""Open-data and fibre exports add their layer to an existing GeoPackage in place.

The user's other layers and tables of that file are kept; a layer of the same name is replaced
(only that one); a failing write leaves the file as it was; the file keeps its permissions and
a symlink stays a symlink.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.opendata import arcep, gpkgio


def user_gpkg(path: Path) -> Path:
    """A GeoPackage a user made: a point layer ``mine`` and a plain SQLite table ``notes``."""
    gpkgio.write_features_gpkg(
        path,
        "mine",
        [{"geometry": {"type": "Point", "coordinates": [2.35, 48.85]}, "properties": {"name": "mairie"}}],
        [("name", "str")],
        "Point",
    )
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    con.execute("INSERT INTO notes (text) VALUES ('à rappeler lundi')")
    con.commit()
    con.close()
    os.chmod(path, 0o640)
    return path


def assert_user_data_kept(path: Path) -> None:
    assert [f["properties"]["name"] for f in gpkgio.read_features(path, "mine")] == ["mairie"]
    con = sqlite3.connect(path)
    try:
        assert con.execute("SELECT text FROM notes").fetchall() == [("à rappeler lundi",)]
    finally:
        con.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def tables(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
    finally:
        con.close()


def _points(n: int, label: str) -> list[dict]:
    return [
        {"geometry": {"type": "Point", "coordinates": [2.3 + i / 100, 48.8]}, "properties": {"n": label}}
        for i in range(n)
    ]


def test_features_layer_added_and_same_name_replaced_in_place(tmp_path):
    gpkg = user_gpkg(tmp_path / "projet.gpkg")
    assert gpkgio.write_features_gpkg(gpkg, "pts", _points(3, "a"), [("n", "str")], "Point") == 3
    assert tables(gpkg) == {"mine", "pts"}
    assert_user_data_kept(gpkg)
    # same name again: only that layer is replaced
    assert gpkgio.write_features_gpkg(gpkg, "pts", _points(2, "b"), [("n", "str")], "Point") == 2
    assert [f["properties"]["n"] for f in gpkgio.read_features(gpkg, "pts")] == ["b", "b"]
    assert tables(gpkg) == {"mine", "pts"}
    assert_user_data_kept(gpkg)
    assert [p.name for p in tmp_path.iterdir()] == ["projet.gpkg"]


def test_failing_write_leaves_the_existing_file_unchanged(tmp_path):
    gpkg = user_gpkg(tmp_path / "projet.gpkg")
    gpkgio.write_features_gpkg(gpkg, "pts", _points(3, "a"), [("n", "str")], "Point")
    bad = [
        {"geometry": None, "properties": {"d": "2024-01-01"}},
        {"geometry": None, "properties": {"d": "soon"}},
    ]
    with pytest.raises(UserInputError, match="nothing was changed"):
        gpkgio.write_features_gpkg(gpkg, "pts", bad, [("d", "date")], "Point")
    # the half-written replacement was rolled back: the previous 'pts' is still there
    assert [f["properties"]["n"] for f in gpkgio.read_features(gpkg, "pts")] == ["a", "a", "a"]
    assert tables(gpkg) == {"mine", "pts"}
    assert_user_data_kept(gpkg)
    assert [p.name for p in tmp_path.iterdir()] == ["projet.gpkg"]


def test_convert_into_existing_gpkg_through_a_symlink(tmp_path):
    real = user_gpkg(tmp_path / "real.gpkg")
    link = tmp_path / "link.gpkg"
    link.symlink_to(real)
    src = tmp_path / "src.geojson"
    src.write_text(json.dumps({"type": "FeatureCollection", "features": _points(4, "c")}), encoding="utf-8")
    assert gpkgio.convert_to_gpkg(src, link, "converted", {"source_url": "http://x"}) == 4
    assert link.is_symlink()
    assert tables(real) == {"mine", "converted"}
    assert len(gpkgio.read_features(real, "converted")) == 4
    assert gpkgio.read_metadata(real)["source_url"] == "http://x"
    assert_user_data_kept(real)


def test_fibre_exports_keep_the_other_layers(tmp_path):
    gpkg = user_gpkg(tmp_path / "fibre.gpkg")
    ipe = tmp_path / "ipe.csv"
    ipe.write_text(
        "imb_id;imb_etat;x;y;code_insee\nIMB/93066/X/01;deploye;2,3574;48,9362;93066\n",
        encoding="utf-8",
    )
    res = arcep.write_ipe_gpkg(ipe, gpkg, layer="ftth_buildings")
    assert res.feature_count == 1
    assert tables(gpkg) == {"mine", "ftth_buildings"}
    assert_user_data_kept(gpkg)


def test_an_edit_committed_by_another_program_during_the_write_is_kept(tmp_path):
    gpkg = user_gpkg(tmp_path / "projet.gpkg")
    other = sqlite3.connect(gpkg, isolation_level=None)  # e.g. QGIS editing the notes table
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock: the export waits for it
        other.execute("INSERT INTO notes (text) VALUES ('saisi pendant l''export')")
        done: list[int] = []
        writer = threading.Thread(
            target=lambda: done.append(
                gpkgio.write_features_gpkg(gpkg, "pts", _points(5, "z"), [("n", "str")], "Point")
            )
        )
        writer.start()
        other.execute("COMMIT")
        writer.join(120)
    finally:
        other.close()
    assert done == [5]
    assert tables(gpkg) == {"mine", "pts"}
    con = sqlite3.connect(gpkg)
    try:
        notes = [r[0] for r in con.execute("SELECT text FROM notes ORDER BY id")]
    finally:
        con.close()
    assert notes == ["à rappeler lundi", "saisi pendant l'export"]


def test_new_geopackage_in_a_folder_not_created_yet(tmp_path):
    """Cache sub-folders (fibre/, opendata/) appear on first use: the first export must not fail."""
    gpkg = tmp_path / "fibre" / "coverage.gpkg"
    assert gpkgio.write_features_gpkg(gpkg, "pts", _points(2, "a"), [("n", "str")], "Point") == 2
    assert [p.name for p in gpkg.parent.iterdir()] == ["coverage.gpkg"]
