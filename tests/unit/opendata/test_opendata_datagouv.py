"""data.gouv.fr client: search, resources, and each resource type turned into an OGR-openable source."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.opendata import gpkgio
from idf_hr_plugin.core.opendata.datagouv import DataGouv
from tests.unit.opendata.fakeportals import FakeDataGouv, datagouv_dataset


@pytest.fixture
def portal(loopback, shared_data, tmp_path):
    """A data.gouv.fr-shaped API whose resources (made here, from shared data) are served by the same server."""
    files = tmp_path / "srv"
    (files / "res").mkdir(parents=True)
    src = shared_data / "admin" / "paris_arrondissements.geojson"
    shutil.copy(src, files / "res" / "arrondissements.geojson")
    gpkgio.convert_to_gpkg(src, files / "res" / "arrondissements.gpkg", "arrondissements")
    # zipped shapefile written by GDAL from the same real data
    from osgeo import gdal

    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gdal.VectorTranslate(str(shp_dir / "arrondissements.shp"), str(src), format="ESRI Shapefile")
    with zipfile.ZipFile(files / "res" / "arrondissements_shp.zip", "w") as zf:
        for p in shp_dir.iterdir():
            zf.write(p, f"ARRONDISSEMENTS/{p.name}")
    # CSV in Windows-1252 with ';' and decimal commas, from the Vélib' stations
    velib = json.loads(
        (shared_data / "opendata" / "velib-emplacement-des-stations.geojson").read_text("utf-8")
    )
    lines = ["Code station;Nom de la station;Capacité;Latitude;Longitude"]
    for f in velib["features"]:
        p = f["properties"]
        lon, lat = f["geometry"]["coordinates"]
        lines.append(
            f"{p['stationcode']};{p['name']};{p['capacity']};{str(lat).replace('.', ',')};{str(lon).replace('.', ',')}"
        )
    (files / "res" / "velib.csv").write_bytes("\r\n".join(lines).encode("cp1252", errors="replace"))
    (files / "res" / "rapport.pdf").write_bytes(b"%PDF-1.4 not a layer")
    srv = loopback(files)
    u = srv.url + "/res/"
    datasets = [
        datagouv_dataset(
            "5f0a1b2c3d4e5f6a7b8c9d0e",
            "Arrondissements de Paris",
            [
                {
                    "id": "r-geojson",
                    "title": "arrondissements.geojson",
                    "format": "geojson",
                    "url": u + "arrondissements.geojson",
                    "mime": "application/geo+json",
                },
                {
                    "id": "r-gpkg",
                    "title": "arrondissements.gpkg",
                    "format": "gpkg",
                    "url": u + "arrondissements.gpkg",
                },
                {
                    "id": "r-shp",
                    "title": "Shapefile",
                    "format": "shp",
                    "url": u + "arrondissements_shp.zip",
                    "mime": "application/zip",
                },
                {
                    "id": "r-pdf",
                    "title": "Rapport",
                    "format": "pdf",
                    "url": u + "rapport.pdf",
                    "mime": "application/pdf",
                },
            ],
            "Limites des 20 arrondissements parisiens",
        ),
        datagouv_dataset(
            "6a7b8c9d0e1f2a3b4c5d6e7f",
            "Stations Vélib'",
            [
                {
                    "id": "r-csv",
                    "title": "velib.csv",
                    "format": "csv",
                    "url": u + "velib.csv",
                    "mime": "text/csv",
                }
            ],
            "Emplacement des stations",
        ),
    ]
    FakeDataGouv(srv, datasets)
    return srv


def test_search_and_resources(portal, client):
    dg = DataGouv(portal.url, client)
    found = dg.search("arrondissements", page_size=5)
    assert [d.title for d in found] == ["Arrondissements de Paris"]
    ds = dg.dataset(found[0].id)
    assert [r.format for r in ds.resources] == ["geojson", "gpkg", "shp", "pdf"]
    assert ds.organization == "Métropole du Grand Paris" and ds.license == "lov2"
    assert dg.search("velib")[0].resources[0].url.endswith("/res/velib.csv")
    with pytest.raises(UserInputError, match="does not exist"):
        dg.dataset("nope")


@pytest.mark.parametrize("rid", ["r-geojson", "r-gpkg", "r-shp"])
def test_vector_resources_open_with_ogr(portal, client, tmp_path, rid):
    dg = DataGouv(portal.url, client)
    res = next(r for r in dg.dataset("5f0a1b2c3d4e5f6a7b8c9d0e").resources if r.id == rid)
    dsn = dg.fetch_resource(res, tmp_path / "out")
    if rid == "r-shp":
        assert dsn.startswith("/vsizip/") and dsn.endswith("ARRONDISSEMENTS/arrondissements.shp")
    feats = gpkgio.read_features(dsn)
    assert len(feats) == 20
    assert sorted(str(f["properties"]["c_arinsee"]) for f in feats)[0] == "75101"


def test_csv_cp1252_semicolon_with_coordinates_becomes_points(portal, client, tmp_path):
    dg = DataGouv(portal.url, client)
    res = dg.dataset("6a7b8c9d0e1f2a3b4c5d6e7f").resources[0]
    dsn = dg.fetch_resource(res, tmp_path / "out")
    feats = gpkgio.read_features(dsn)
    assert len(feats) == 1003
    first = feats[0]
    assert first["properties"]["Capacité"] == "20"  # accented header decoded from cp1252
    assert first["geometry"]["coordinates"] == pytest.approx([2.39257067442, 48.855907556])
    meta = gpkgio.read_metadata(dsn)
    assert meta["encoding"] == "cp1252" and meta["separator"] == ";"


def test_csv_without_coordinates_says_which_columns_are_missing(tmp_path):
    from idf_hr_plugin.core.opendata.datagouv import csv_to_points_gpkg

    p = tmp_path / "t.csv"
    p.write_text("nom;adresse\nMairie;1 place\n", encoding="utf-8")
    with pytest.raises(
        UserInputError, match=r"longitude / x \(looked for: longitude, lon.*Columns present: nom, adresse"
    ):
        csv_to_points_gpkg(p, tmp_path / "t.gpkg")
    assert not (tmp_path / "t.gpkg").exists()


def test_unsupported_format_is_refused_clearly(portal, client, tmp_path):
    dg = DataGouv(portal.url, client)
    pdf = next(r for r in dg.dataset("5f0a1b2c3d4e5f6a7b8c9d0e").resources if r.id == "r-pdf")
    with pytest.raises(UserInputError, match="format pdf.*Supported formats: GeoJSON"):
        dg.fetch_resource(pdf, tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())
