"""Source factory, defaults and multi-source search."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.catalog.model import SearchQuery, SourceConfig
from idf_hr_plugin.core.catalog.presets import IGN_WMTS_URL, REGIONAL_THR_SOURCE_ID
from idf_hr_plugin.core.catalog.sources import default_sources, make_source, search_configs, search_sources
from idf_hr_plugin.core.catalog.stac_api import StacApiSource
from idf_hr_plugin.core.catalog.stac_static import StaticStacSource
from idf_hr_plugin.core.catalog.wmts import WmtsSource
from idf_hr_plugin.core.errors import Cancelled, UserInputError

from .conftest import fast_client


def test_default_sources():
    srcs = {s.id: s for s in default_sources()}
    assert [s.kind for s in default_sources()] == ["demo", "wmts", "stac-api"]
    assert srcs["ign-geoplateforme"].url == IGN_WMTS_URL
    thr = srcs[REGIONAL_THR_SOURCE_ID]
    assert thr.url == "" and not thr.enabled and "URL à renseigner" in thr.name
    # settings round trip
    assert [SourceConfig.from_dict(s.to_dict()) for s in default_sources()] == default_sources()


def test_make_source_kinds(tmp_path):
    assert isinstance(make_source(SourceConfig("a", "A", "stac-api", "http://127.0.0.1:9/")), StacApiSource)
    assert isinstance(
        make_source(SourceConfig("s", "S", "stac-static", str(tmp_path / "c.json"))), StaticStacSource
    )
    assert isinstance(make_source(SourceConfig("w", "W", "wmts", "http://127.0.0.1:9/wmts")), WmtsSource)
    demo = make_source(default_sources()[0])  # lazy: nothing generated until it is searched
    assert isinstance(demo, StaticStacSource) and demo.config.kind == "demo"


def test_unusable_configs_raise_clear_errors():
    thr = next(s for s in default_sources() if s.id == REGIONAL_THR_SOURCE_ID)
    with pytest.raises(UserInputError, match="settings"):
        make_source(thr)
    with pytest.raises(UserInputError, match="unknown kind"):
        make_source(SourceConfig("x", "X", "ftp"))


def test_search_merges_sources_and_collects_errors(loopback, static_catalog):
    srv = loopback(static_catalog.root.parent)
    ok = SourceConfig("static", "Static", "stac-static", f"{srv.url}/stac/catalog.json")
    broken = SourceConfig("broken", "Broken", "stac-api", f"{srv.url}/no-api/")
    local = SourceConfig("local", "Local copy", "stac-static", str(static_catalog.catalog))
    no_url = SourceConfig("thr", "THR", "stac-api", "", enabled=True)
    disabled = SourceConfig("off", "Off", "stac-api", "", enabled=False)
    res = search_configs([ok, broken, local, no_url, disabled], SearchQuery(), client=fast_client(retries=0))
    assert len(res.items) == 2 * static_catalog.n_items
    assert {it.source_id for it in res.items} == {"static", "local"}
    errs = {e.source_id: e.message for e in res.errors}
    assert set(errs) == {"broken", "thr"}
    assert "HTTP 404" in errs["broken"] and "no URL" in errs["thr"]
    assert any("missing/catalog.json" in w for w in res.warnings)


def test_search_sources_cancel_propagates(static_catalog):
    src = make_source(SourceConfig("local", "Local", "stac-static", str(static_catalog.catalog)))
    with pytest.raises(Cancelled):
        search_sources([src], SearchQuery(), cancel=lambda: True)
