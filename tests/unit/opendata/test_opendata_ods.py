"""Opendatasoft Explore v2.1 client against a loopback portal replaying real layouts and data."""

from __future__ import annotations

import json

import pytest

from idf_hr_plugin.core.errors import NetworkError, UserInputError
from idf_hr_plugin.core.opendata.ods import PORTALS, OdsPortal, bbox_clause
from tests.servers import Fault
from tests.unit.opendata.fakeportals import FakeDataset, FakeOds, dataset_from_records


def test_catalog_search_finds_geo_datasets_by_text_and_theme(ods, client):
    portal = OdsPortal(ods.url, client)
    found = portal.search_datasets("arbres")
    assert [d.id for d in found] == ["les-arbres"]
    d = found[0]
    assert d.title == "Les arbres remarquables"
    assert d.records_count == 183
    assert d.license.startswith("Open Database License")
    assert d.geo_field == "geo_point_2d" and d.has_geo
    assert {"hauteurenm", "libellefrancais"} <= {f.name for f in d.fields}
    by_theme = portal.search_datasets(theme="Mobilité et Transport")
    assert [d.id for d in by_theme] == ["velib-emplacement-des-stations"]
    # the Vélib' geo field is named coordonnees_geo: detected by type, not by name
    assert by_theme[0].geo_field == "coordonnees_geo"
    # geo_shape wins over geo_point_2d when a dataset has both
    assert portal.dataset("sanisettesparis").geo_field == "geo_shape"


def test_search_sends_odsql_search_and_geo_feature(ods, client):
    OdsPortal(ods.url, client).search_datasets('toilettes "publiques"', limit=500)
    req = ods.srv.log[-1]
    assert req.arg("where") == '(search("toilettes \\"publiques\\"")) AND (features = "geo")'
    assert req.arg("limit") == "100"  # the API refuses more than 100


def test_preview_returns_first_records(ods, client):
    recs = OdsPortal(ods.url, client).preview("les-arbres", n=5)
    assert len(recs) == 5
    assert recs[0]["libellefrancais"] == "Pin" and recs[0]["geo_point_2d"]["lat"] == pytest.approx(
        48.863, abs=1e-3
    )


def test_unknown_dataset_says_it_may_have_been_renamed(ods, client):
    with pytest.raises(UserInputError, match="renamed"):
        OdsPortal(ods.url, client).dataset("does-not-exist")


def test_export_all_records_from_geo_point_2d(ods, client, tmp_path):
    res = OdsPortal(ods.url, client).export_geojson("les-arbres", tmp_path / "arbres.geojson")
    fc = json.loads(res.path.read_text("utf-8"))
    assert res.feature_count == len(fc["features"]) == 183
    assert res.geometry_types == ["Point"]
    assert fc["features"][0]["geometry"]["coordinates"] == pytest.approx([2.2417737, 48.8630096])
    assert res.license.startswith("Open Database License")
    assert res.source_url.endswith("/catalog/datasets/les-arbres/exports/geojson")
    assert res.retrieved_at.tzinfo is not None


def test_export_geo_shape_polygons(ods, client, tmp_path):
    res = OdsPortal(ods.url, client).export_geojson("arrondissements", tmp_path / "arr.geojson")
    assert res.feature_count == 20 and res.geometry_types == ["Polygon"]
    res = OdsPortal(ods.url, client).export_geojson("sanisettesparis", tmp_path / "s.geojson")
    assert res.feature_count == 615 and res.geometry_types == ["MultiPoint"]


def test_more_than_10000_records_export_works_where_paging_hits_the_cap(ods, client, tmp_path):
    portal = OdsPortal(ods.url, client)
    # the server behaves like the real API past offset + limit = 10000
    raw = client.get(
        f"{ods.url}/api/explore/v2.1/catalog/datasets/points-generes-10050/records",
        params={"limit": 100, "offset": 9950},
        accept_status=(400,),
    )
    assert raw.status == 400
    assert raw.json()["error_code"] == "InvalidRESTParameterError"
    assert "offset + limit" in raw.json()["message"]
    seen = []
    with pytest.raises(UserInputError, match="10,000.*export"):
        for rec in portal.records_paged("points-generes-10050"):
            seen.append(rec["id"])
    assert len(seen) == 10_000 and seen[:3] == [0, 1, 2]
    res = portal.export_geojson("points-generes-10050", tmp_path / "big.geojson")
    assert res.feature_count == 10_050
    ids = [f["properties"]["id"] for f in json.loads(res.path.read_text())["features"]]
    assert ids == list(range(10_050))


def test_records_paged_below_cap_yields_everything(ods, client):
    recs = list(OdsPortal(ods.url, client).records_paged("les-arbres", page_size=50))
    assert len(recs) == 183


def test_where_and_bbox_filters_are_applied(ods, client, tmp_path):
    portal = OdsPortal(ods.url, client)
    res = portal.export_geojson("les-arbres", tmp_path / "tall.geojson", where="hauteurenm > 30")
    heights = [f["properties"]["hauteurenm"] for f in json.loads(res.path.read_text())["features"]]
    assert heights and all(h > 30 for h in heights)
    assert res.feature_count < 183
    bbox = (2.30, 48.84, 2.36, 48.87)  # west, south, east, north (central Paris)
    res = portal.export_geojson("velib-emplacement-des-stations", tmp_path / "v.geojson", bbox_wgs84=bbox)
    pts = [f["geometry"]["coordinates"] for f in json.loads(res.path.read_text())["features"]]
    assert 20 < len(pts) < 1003
    assert all(2.30 <= x <= 2.36 and 48.84 <= y <= 48.87 for x, y in pts)
    where = ods.srv.log[-1].arg("where")
    assert where == "in_bbox(coordonnees_geo, 48.84, 2.3, 48.87, 2.36)"  # latitude first, as ODSQL wants
    res = portal.export_geojson(
        "velib-emplacement-des-stations", tmp_path / "v2.geojson", where="capacity >= 40", bbox_wgs84=bbox
    )
    caps = [f["properties"]["capacity"] for f in json.loads(res.path.read_text())["features"]]
    assert caps and all(c >= 40 for c in caps) and len(caps) < len(pts)


def test_bad_extent_is_refused():
    with pytest.raises(UserInputError, match="longitude/latitude"):
        bbox_clause("geo_point_2d", (650000, 6860000, 660000, 6870000))


def test_429_with_retry_after_then_success(ods, client, tmp_path):
    path = "/api/explore/v2.1/catalog/datasets/les-arbres/exports/geojson"
    ods.srv.fault(path, Fault("status", 429, times=1, retry_after="1"))
    res = OdsPortal(ods.url, client).export_geojson("les-arbres", tmp_path / "a.geojson")
    assert res.feature_count == 183
    hits = [r for r in ods.srv.log if r.path == path]
    assert len(hits) == 2


def _broken(ods: FakeOds) -> None:
    recs = [
        {
            "nom": "ok",
            "geo_shape": {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.3, 48.8]}},
        },
        {
            "nom": "cassé",
            "geo_shape": {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[2.3, 48.8]]}},
        },
    ]
    ods.datasets["casse"] = dataset_from_records("casse", "Jeu cassé", recs, {"geo_shape": "geo_shape"})


def test_malformed_geometry_names_the_dataset_and_writes_nothing(ods, client, tmp_path):
    _broken(ods)
    dest = tmp_path / "casse.geojson"
    with pytest.raises(NetworkError, match=r"casse.*malformed geometry \(feature 2: Polygon"):
        OdsPortal(ods.url, client).export_geojson("casse", dest)
    assert list(tmp_path.iterdir()) == []


def test_empty_dataset_is_a_clear_error_and_writes_nothing(ods, client, tmp_path):
    ods.datasets["vide"] = FakeDataset(
        "vide", "Jeu vide", [], [{"name": "geo_point_2d", "type": "geo_point_2d"}]
    )
    with pytest.raises(UserInputError, match="vide returned no records"):
        OdsPortal(ods.url, client).export_geojson("vide", tmp_path / "vide.geojson")
    with pytest.raises(UserInputError, match="for this filter"):
        OdsPortal(ods.url, client).export_geojson(
            "les-arbres", tmp_path / "x.geojson", where="hauteurenm > 1000"
        )
    assert list(tmp_path.iterdir()) == []


def test_portal_presets():
    assert PORTALS["paris"].base_url == "https://opendata.paris.fr" and PORTALS["paris"].verified
    assert PORTALS["mgp"].base_url.startswith("https://") and PORTALS["mgp"].note


def test_bad_where_shows_the_portals_own_error_and_writes_nothing(ods, client, tmp_path):
    portal = OdsPortal(ods.url, client)
    dest = tmp_path / "out" / "arbres.geojson"
    with pytest.raises(UserInputError) as err:
        portal.export_geojson("les-arbres", dest, where="hauteurenm = = 20")
    msg = str(err.value)
    # the portal's message and error code, not just "HTTP 400"
    assert "refused the query on les-arbres: ODSQL query is malformed" in msg
    assert "(ODSQLError)" in msg and "Check the where clause" in msg
    assert not dest.exists()


def test_http_errors_carry_the_servers_explanation(ods, client):
    # any 4xx/5xx of any service: the JSON body's message is part of the error
    with pytest.raises(NetworkError) as err:
        client.get_json(ods.url + "/api/explore/v2.1/catalog/datasets", params={"limit": 500})
    msg = str(err.value)
    assert "HTTP 400" in msg
    assert "It said: “Invalid value for limit API parameter: 500 was found" in msg
    assert "(InvalidRESTParameterError)" in msg
