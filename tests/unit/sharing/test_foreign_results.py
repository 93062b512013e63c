"""Results published by another tool (no ``idfhr:`` properties) are listed with what is known and a
sentence on what is missing, from a catalog folder and from a STAC API: never dropped, no traceback."""

from __future__ import annotations

import json

from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.sharing import ResultFilter, filter_runs, runs_from_api, runs_from_catalog
from tests.servers import StacTransactionsServer

FOREIGN = {
    "type": "Feature",
    "stac_version": "1.0.0",
    "id": "pools-2023-montreuil",
    "geometry": {"type": "Point", "coordinates": [2.44, 48.86]},
    "bbox": [2.43, 48.85, 2.45, 48.87],
    "properties": {"datetime": "2023-06-01T00:00:00Z", "title": "Piscines détectées"},
    "assets": {"data": {"href": "./pools.geojson", "type": "application/geo+json", "roles": ["data"]}},
    "links": [],
}
IMAGERY = {
    **FOREIGN,
    "id": "ortho-2023",
    "properties": {"datetime": "2023-06-01T00:00:00Z"},
    "assets": {"image": {"href": "./ortho.tif", "type": "image/tiff; application=geotiff"}},
}
BARE = {"type": "Feature", "stac_version": "1.0.0", "id": "bare", "geometry": None, "bbox": "n/a",
        "properties": {"datetime": None}, "assets": {"objects": {"href": "./bare.gpkg"}}, "links": []}  # fmt: skip


def _catalog(folder):
    folder.mkdir()
    links = [{"rel": "root", "href": "./catalog.json"}]
    for doc in (FOREIGN, IMAGERY, BARE):
        (folder / f"{doc['id']}.json").write_text(json.dumps(doc))
        links.append({"rel": "item", "href": f"./{doc['id']}.json"})
    (folder / "pools.geojson").write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"id": 1},
                        "geometry": {"type": "Point", "coordinates": [2.44, 48.86]},
                    }
                ],
            }
        )  # fmt: skip
    )
    cat = {"type": "Catalog", "stac_version": "1.0.0", "id": "other", "description": "d", "links": links}
    (folder / "catalog.json").write_text(json.dumps(cat))


def _check(runs):
    by_id = {r.run_id: r for r in runs}
    assert sorted(by_id) == ["bare", "pools-2023-montreuil"]  # the imagery item is not a result
    pools = by_id["pools-2023-montreuil"]
    assert pools.start.startswith("2023-06-01") and pools.bbox == (2.43, 48.85, 2.45, 48.87)
    assert pools.objects_href.endswith("/pools.geojson") and pools.title == "Piscines détectées"
    assert "Not published by IdF HR" in pools.missing
    assert "partner, model, counts per class unknown" in pools.missing
    assert pools.missing in pools.label() and pools.label().startswith("? — ? — ? — 2023-06-01")
    bare = by_id["bare"]
    assert bare.bbox is None and "imagery date, extent unknown" in bare.missing
    # listed with what is known: the extent and date filters still apply to it
    assert [r.run_id for r in filter_runs(runs, ResultFilter(bbox=(2.4, 48.8, 2.5, 48.9)))] == [
        "pools-2023-montreuil"
    ]


def test_foreign_items_in_a_catalog_folder_are_listed_with_what_is_missing(tmp_path):
    _catalog(tmp_path / "other")
    _check(runs_from_catalog(str(tmp_path / "other")))


def test_foreign_items_in_a_stac_api_are_listed_with_what_is_missing(tmp_path):
    with StacTransactionsServer(tmp_path, token="t") as api:
        client = HttpClient(headers={"Authorization": "Bearer t"}, retries=0)
        coll = {"type": "Collection", "id": "other", "links": []}
        client.post_json(api.url + "/collections", coll)
        for doc in (FOREIGN, IMAGERY, BARE):
            client.post_json(api.url + "/collections/other/items", doc)
        _check(runs_from_api(api.url, "other"))
