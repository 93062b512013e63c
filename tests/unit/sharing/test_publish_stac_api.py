"""Publishing results into a STAC API with the Transactions extension, and browsing them back.

The API side is :class:`tests.servers.StacTransactionsServer` (real HTTP on 127.0.0.1): ``rustac
serve`` answers 405 to transactions, so it serves here as the API that refuses them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.sharing import publish_result, runs_from_api, runs_from_catalog
from tests.servers import RustacServer, StacTransactionsServer
from tests.sharing_data import detections_gpkg

TOKEN = "s3cret-test-token"  # nosec B105 - a test server's token


def _features(source, layer) -> dict:
    from osgeo import ogr

    ds = ogr.Open(str(source))
    lyr = ds.GetLayerByName(layer) if layer else ds.GetLayer(0)
    out = {f.GetFID(): (f.items(), f.GetGeometryRef().ExportToIsoWkt()) for f in lyr}
    del lyr, ds
    return out


@pytest.fixture
def api(tmp_path):
    with StacTransactionsServer(tmp_path / "results", token=TOKEN) as srv:
        yield srv


def _client(token: str = TOKEN) -> HttpClient:
    return HttpClient(headers={"Authorization": f"Bearer {token}"}, retries=0)


def test_publish_into_stac_api_creates_collection_item_then_replaces_it(api, tmp_path):
    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 25, run_id="api-1")
    cat = tmp_path / "results"
    out = publish_result(
        gpkg, "Vincennes", catalog_dir=cat, api_url=api.url, assets_url=api.url, client=_client()
    )
    assert out.api_item == f"{api.url}/collections/idfhr-results/items/Vincennes-api-1"
    assert list(api.collections) == ["idfhr-results"]
    assert [(r.method, r.path) for r in api.log if r.method != "GET"] == [
        ("POST", "/collections"),
        ("POST", "/collections/idfhr-results/items"),
    ]
    # the same run again: replaced in place (PUT), never a second item
    again = publish_result(
        gpkg, "Vincennes", catalog_dir=cat, api_url=api.url, assets_url=api.url, client=_client()
    )
    assert again.api_item == out.api_item
    assert api.log[-1].method == "PUT" and api.log[-1].path.endswith("/items/Vincennes-api-1")
    assert list(api.items["idfhr-results"]) == ["Vincennes-api-1"]

    # browse reads it back from the API; the GeoPackage asset comes over HTTP with the same features
    (run,) = runs_from_api(api.url, "idfhr-results")
    assert (run.partner, run.run_id, run.layer, run.features) == ("Vincennes", "api-1", layer, 25)
    assert run.missing == ""
    assert run.objects_href == f"{api.url}/Vincennes-api-1/objects.gpkg"
    assert _features("/vsicurl/" + run.objects_href, run.layer) == _features(gpkg, layer)
    (found,) = runs_from_api(api.url)  # /search, every collection
    assert found.run_id == "api-1"


def test_stac_api_write_without_token_is_refused_with_what_to_do(api, tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 5, run_id="api-2")
    with pytest.raises(UserInputError) as err:
        publish_result(
            gpkg,
            "Vincennes",
            catalog_dir=tmp_path / "results",
            api_url=api.url,
            assets_url=api.url,
            client=_client("wrong"),
        )
    text = str(err.value)
    assert "published in the catalog folder" in text and "not in the STAC API" in text
    assert "401" in text and "Publish it again" in text
    assert api.items == {}
    # the folder copy is complete and listed
    assert [r.run_id for r in runs_from_catalog(str(tmp_path / "results"))] == ["api-2"]


def test_stac_api_without_transactions_is_refused_before_anything_is_written(tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 5, run_id="api-3")
    cat = tmp_path / "results"
    coll = tmp_path / "imagery.json"
    coll.write_text(
        json.dumps(
            {
                "type": "Collection",
                "stac_version": "1.0.0",
                "id": "imagery",
                "description": "d",
                "license": "other",
                "extent": {"spatial": {"bbox": [[2, 48, 3, 49]]}, "temporal": {"interval": [[None, None]]}},
                "links": [],
            }
        )
    )
    with RustacServer([str(coll)]) as rustac:  # a real STAC API, read-only
        with pytest.raises(UserInputError, match="does not declare the Transactions extension"):
            publish_result(gpkg, "Vincennes", catalog_dir=cat, api_url=rustac.url, assets_url=rustac.url)
    assert not cat.exists()


def test_stac_api_needs_a_folder_for_its_assets(api, tmp_path):
    gpkg, _ = detections_gpkg(tmp_path / "det.gpkg", 5, run_id="api-4")
    with pytest.raises(UserInputError, match="also needs a results catalog folder"):
        publish_result(gpkg, "Vincennes", api_url=api.url, client=_client())
    # without the URL the folder is served at, readers of the API could not fetch the objects
    with pytest.raises(UserInputError, match="assets URL"):
        publish_result(gpkg, "Vincennes", catalog_dir=tmp_path / "results", api_url=api.url, client=_client())
    assert not (tmp_path / "results").exists()
    assert not [r for r in api.log if r.method != "GET"]


def test_cli_publish_to_stac_api_reads_the_token_from_the_environment(api, tmp_path):
    gpkg, layer = detections_gpkg(tmp_path / "det.gpkg", 7, run_id="api-5")
    cat = tmp_path / "results"
    args = [sys.executable, "-m", "idf_hr_plugin", "publish", str(gpkg), "--partner", "EPT T10"]
    args += ["--catalog", str(cat), "--stac-api", api.url, "--assets-url", api.url]
    env = {**__import__("os").environ, "IDFHR_STAC_API_TOKEN": TOKEN}
    res = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "STAC API item" in res.stdout
    shared = [sys.executable, "-m", "idf_hr_plugin", "shared-results", "--stac-api", api.url]
    res = subprocess.run(shared, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    (listed,) = json.loads(res.stdout)
    assert (listed["partner"], listed["run_id"], listed["features"]) == ("EPT T10", "api-5", 7)
    # without the token: exit 2, one sentence, no traceback
    env.pop("IDFHR_STAC_API_TOKEN")
    res = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "IDFHR_STAC_API_TOKEN" in res.stderr
