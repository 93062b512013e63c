"""Static STAC catalogs, over HTTP (loopback) and on disk."""

from __future__ import annotations

import logging

import pytest

from idf_hr_plugin.core.catalog.model import SearchQuery, SourceConfig
from idf_hr_plugin.core.catalog.stac_item import HREF_ERRORS_KEY
from idf_hr_plugin.core.catalog.stac_static import StaticStacSource
from idf_hr_plugin.core.errors import Cancelled, NetworkError, UserInputError
from tests.servers import Fault

from .conftest import fast_client


def _source(url: str, **client_kw) -> StaticStacSource:
    return StaticStacSource(
        SourceConfig(id="static", name="Static test", kind="stac-static", url=url), fast_client(**client_kw)
    )


@pytest.fixture
def served(loopback, static_catalog):
    srv = loopback(static_catalog.root.parent)
    return srv, f"{srv.url}/stac/catalog.json"


def test_walks_nested_catalogs_and_item_collections(served, static_catalog, caplog):
    srv, url = served
    src = _source(url)
    with caplog.at_level(logging.WARNING, logger="idf_hr.catalog"):
        items = list(src.search(SearchQuery()))
    assert len(items) == static_catalog.n_items
    by_id = {it.id: it for it in items}
    assert {it.collection for it in items} == {"thr-2024", "thr-2026"}
    # item without "type" parsed; its relative href resolved against its own URL
    it0 = by_id["tile-2024-0"]
    assert it0.collection == "thr-2024"  # inherited from the parent collection
    assert it0.assets["image"].href == f"{srv.url}/stac/data/tile-2024-0.tif"
    assert it0.gsd == 0.2 and it0.epsg == 2154
    assert it0.license == "etalab-2.0" and it0.attribution == "Région Île-de-France"
    # items from the linked ItemCollection (rel=items), relative to items.json
    assert by_id["tile-2026-1"].assets["image"].href == f"{srv.url}/stac/data/tile-2026-1.tif"
    # the broken child, the escaping child and the s3:// child are reported, the rest is kept
    text = " ".join(src.warnings)
    assert "missing/catalog.json" in text
    assert "outside" in text and "s3://" in text
    assert any("missing/catalog.json" in r.getMessage() for r in caplog.records)


def test_remote_catalog_refuses_s3_file_and_escaping_hrefs(served):
    _srv, url = served
    items = {it.id: it for it in _source(url).search(SearchQuery())}
    it1 = items["tile-2024-1"]
    assert set(it1.assets) == {"image"}  # the s3:// mirror is dropped
    assert "s3" in it1.properties[HREF_ERRORS_KEY][0] and "not" not in it1.assets
    it2 = items["tile-2024-2"]
    assert "image" not in it2.assets and it2.thumbnail is not None
    assert "local file" in it2.properties[HREF_ERRORS_KEY][0]
    it3 = items["tile-2024-3"]
    assert set(it3.assets) == {"ok"}
    assert "outside the catalog" in it3.properties[HREF_ERRORS_KEY][0]


def test_local_catalog_gives_local_paths(static_catalog):
    src = _source(str(static_catalog.catalog))
    items = {it.id: it for it in src.search(SearchQuery())}
    assert len(items) == static_catalog.n_items
    href = items["tile-2024-0"].assets["image"].href
    assert href == str(static_catalog.root / "data" / "tile-2024-0.tif")
    # a local catalog the user owns may point to local files
    assert items["tile-2024-2"].assets["image"].href == "/srv/imagery/tile-2024-2.tif"


def test_catalog_with_only_child_catalogs_still_yields_items(served):
    srv, _ = served
    items = list(_source(f"{srv.url}/stac/region/catalog.json").search(SearchQuery()))
    assert len(items) == 7


def test_filters_are_applied_locally(served):
    _srv, url = served
    src = _source(url)
    assert {it.id for it in src.search(SearchQuery(collections=["thr-2026"]))} == {
        "tile-2026-0",
        "tile-2026-1",
        "tile-2026-2",
    }
    assert all(
        it.year == 2024
        for it in src.search(SearchQuery(datetime_start="2024-01-01", datetime_end="2024-12-31"))
    )
    assert len(list(src.search(SearchQuery(datetime_start="2025-01-01")))) == 3
    assert {it.gsd for it in src.search(SearchQuery(max_gsd=0.1))} == {0.05}
    # bbox touching only the first column of tiles (x 2.30..2.31)
    hits = list(src.search(SearchQuery(bbox=(2.295, 48.80, 2.305, 49.0))))
    assert hits and all(it.bbox[0] == pytest.approx(2.30) for it in hits)
    assert list(src.search(SearchQuery(bbox=(5.0, 43.0, 5.1, 43.1)))) == []
    assert len(list(src.search(SearchQuery(limit=2)))) == 2


def test_collections_listed(served):
    _srv, url = served
    cols = {c.id: c for c in _source(url).collections()}
    assert set(cols) == {"thr-2024", "thr-2026"}
    assert cols["thr-2024"].title == "THR 2024" and cols["thr-2024"].extent_bbox == (2.3, 48.85, 2.35, 48.9)


def test_cancel_stops_the_walk(served):
    _srv, url = served
    calls = {"n": 0}

    def cancel():
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(Cancelled):
        list(_source(url).search(SearchQuery(), cancel))


def test_empty_catalog(loopback, tmp_path):
    (tmp_path / "catalog.json").write_text(
        '{"type": "Catalog", "id": "empty", "description": "", "links": []}'
    )
    srv = loopback(tmp_path)
    assert list(_source(f"{srv.url}/catalog.json").search(SearchQuery())) == []


def test_broken_child_collection_keeps_the_rest(served, static_catalog):
    srv, url = served
    srv.fault("/stac/region/2026/collection.json", Fault("status", 500))
    src = _source(url, retries=0)
    items = list(src.search(SearchQuery()))
    assert {it.collection for it in items} == {"thr-2024"}
    assert any("2026/collection.json" in w for w in src.warnings)


@pytest.mark.parametrize(
    ("fault", "client_kw", "expected"),
    [
        (Fault("status", 404), {}, "HTTP 404"),
        (Fault("status", 500), {"retries": 0}, "HTTP 500"),
        (Fault("timeout", delay=1.5), {"timeout": 0.3, "retries": 0}, "did not answer"),
        (Fault("reset"), {"retries": 0}, "closed it without answering"),
        (Fault("truncate"), {"retries": 0}, "cut off"),
        (Fault("invalid"), {}, "valid JSON"),
    ],
    ids=["404", "500", "timeout", "reset", "truncated", "invalid-json"],
)
def test_root_faults_raise_readable_errors(served, fault, client_kw, expected):
    srv, url = served
    srv.fault("/stac/catalog.json", fault)
    with pytest.raises(NetworkError) as err:
        list(_source(url, **client_kw).search(SearchQuery()))
    assert expected in str(err.value)


def test_429_with_retry_after_succeeds_after_waiting(served, static_catalog):
    srv, url = served
    srv.fault("/stac/catalog.json", Fault("status", 429, times=1, retry_after="1"))
    items = list(_source(url).search(SearchQuery()))
    assert len(items) == static_catalog.n_items
    assert sum(1 for r in srv.log if r.path == "/stac/catalog.json") == 2


def test_missing_local_catalog_is_a_user_error(tmp_path):
    with pytest.raises(UserInputError, match="cannot be read"):
        list(_source(str(tmp_path / "nope.json")).search(SearchQuery()))
