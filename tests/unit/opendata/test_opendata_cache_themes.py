"""Offline cache (GeoPackage + metadata) and curated themes with catalog-search fallback."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from idf_hr_plugin.core.errors import NetworkError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.opendata import gpkgio
from idf_hr_plugin.core.opendata.cache import DatasetCache, age_text, make_key
from idf_hr_plugin.core.opendata.ods import OdsPortal
from idf_hr_plugin.core.opendata.themes import THEMES, UNVERIFIED_DATASET_IDS, resolve_theme
from tests.servers import Fault
from tests.unit.opendata.fakeportals import FakeOds, generated_dataset


def test_export_then_cache_then_offline_load(ods, client, tmp_path):
    portal = OdsPortal(ods.url, client)
    res = portal.export_geojson("les-arbres", tmp_path / "a.geojson")
    cache = DatasetCache(tmp_path / "cache")
    key = make_key(ods.url, "les-arbres")
    three_days_ago = datetime.now(timezone.utc) - timedelta(days=3, minutes=5)
    entry = cache.put(
        key,
        res.path,
        source_url=res.source_url,
        dataset_id="les-arbres",
        license=res.license,
        title=res.title,
        retrieved_at=three_days_ago,
    )
    assert entry.feature_count == 183 and entry.layer == "les-arbres".replace("-", "_")
    assert entry.age_text == "retrieved 3 days ago"
    # network off: the server is gone, the cached layer still loads and says how old it is
    ods.srv.stop()
    again = DatasetCache(tmp_path / "cache").get(key)
    assert again is not None and again.license.startswith("Open Database License")
    assert gpkgio.layer_feature_count(again.path, again.layer) == 183
    feats = gpkgio.read_features(again.path, again.layer)
    assert {f["properties"]["libellefrancais"] for f in feats} >= {"Pin", "Platane"}
    assert [e.key for e in DatasetCache(tmp_path / "cache").list()] == [key]
    assert again.uri.endswith("|layername=les_arbres")


def test_age_text():
    now = datetime(2024, 5, 10, 12, tzinfo=timezone.utc)
    assert age_text(now - timedelta(seconds=5), now) == "retrieved just now"
    assert age_text(now - timedelta(minutes=7), now) == "retrieved 7 minutes ago"
    assert age_text(now - timedelta(hours=1), now) == "retrieved 1 hour ago"
    assert age_text(now - timedelta(days=3), now) == "retrieved 3 days ago"


def test_corrupt_and_partial_entries_are_never_returned(tmp_path, shared_data):
    cache = DatasetCache(tmp_path)
    good = cache.put(
        "velib", shared_data / "opendata" / "velib-emplacement-des-stations.geojson", dataset_id="velib"
    )
    assert good.feature_count == 1003
    (tmp_path / "garbage.gpkg").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    truncated = tmp_path / "truncated.gpkg"
    truncated.write_bytes(good.path.read_bytes()[:4096])
    (tmp_path / ".velib.gpkg.abc.gpkg").write_bytes(b"partial")  # leftover temp file of a crash
    assert cache.get("garbage") is None and cache.get("truncated") is None
    assert [e.key for e in cache.list()] == ["velib"]


def test_http_errors_and_timeouts_leave_cache_uncorrupted(ods, tmp_path):
    cache = DatasetCache(tmp_path / "cache")
    key = make_key(ods.url, "les-arbres")
    portal = OdsPortal(ods.url, HttpClient(timeout=10, retries=0))
    first = portal.export_geojson("les-arbres", tmp_path / "dl" / "a.geojson")
    cache.put(key, first.path, dataset_id="les-arbres")
    before = cache.get(key).path.read_bytes()
    path = "/api/explore/v2.1/catalog/datasets/les-arbres/exports/geojson"
    ods.srv.fault(path, Fault("status", 503, times=1))
    with pytest.raises(NetworkError, match="HTTP 503"):
        portal.export_geojson("les-arbres", tmp_path / "dl" / "b.geojson")
    ods.srv.fault(path, Fault("timeout", times=1, delay=2.0))
    with pytest.raises(NetworkError, match="did not answer within"):
        OdsPortal(ods.url, HttpClient(timeout=0.5, retries=0)).export_geojson(
            "les-arbres", tmp_path / "dl" / "c.geojson"
        )
    ods.srv.fault(path, Fault("truncate", times=1))
    with pytest.raises(NetworkError):
        portal.export_geojson("les-arbres", tmp_path / "dl" / "d.geojson")
    assert sorted(p.name for p in (tmp_path / "dl").iterdir()) == ["a.geojson"]
    assert cache.get(key).path.read_bytes() == before
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{key}.gpkg"]


def test_theme_presets_are_complete():
    assert set(THEMES) == {"biodiversity", "urbanism", "cultural_sites", "light_pollution", "geothermal"}
    for t in THEMES.values():
        assert t.label_fr and t.label_en and t.search_terms and t.style.color.startswith("#")
        assert t.dataset_ids == UNVERIFIED_DATASET_IDS[t.key]


def test_theme_resolution_falls_back_to_catalog_title_search(loopback):
    srv = loopback()
    renamed = generated_dataset("reservoirs-biodiversite-2024", 50, title="Réservoirs de biodiversité")
    renamed.theme = ["Environnement"]
    ods = FakeOds(srv, {renamed.dataset_id: renamed})
    portal = OdsPortal(srv.url, HttpClient(timeout=10, retries=0))
    res = resolve_theme("biodiversity", portal, overrides={"biodiversity": ["reservoirs-de-biodiversite"]})
    assert [d.id for d in res.datasets] == ["reservoirs-biodiversite-2024"]
    assert res.renamed == {"reservoirs-de-biodiversite": "reservoirs-biodiversite-2024"}
    # a configured id that exists is used as is
    res = resolve_theme("biodiversity", portal, overrides={"biodiversity": ["reservoirs-biodiversite-2024"]})
    assert res.renamed == {} and res.datasets[0].title == "Réservoirs de biodiversité"
    assert any(r.arg("where", "").startswith("(search(") for r in ods.srv.log)
