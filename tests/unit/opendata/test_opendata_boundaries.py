"""MGP communes and EPT: local file, geo.api.gouv.fr-shaped API, cache, fuzzy lookups."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.errors import NetworkError, UserInputError
from idf_hr_plugin.core.http import HttpClient
from idf_hr_plugin.core.opendata.boundaries import Boundaries, load_membership
from idf_hr_plugin.core.opendata.cache import DatasetCache
from tests.unit.opendata.fakeportals import FakeGeoApi


@pytest.fixture(scope="module")
def mgp(shared_data):
    return Boundaries.from_file(shared_data / "admin" / "mgp_communes_with_ept.geojson")


def test_131_communes_and_12_ept(mgp):
    assert len(mgp.communes) == 131
    assert [e.id for e in mgp.epts] == [f"T{i}" for i in range(1, 13)]
    assert sum(len(e.communes) for e in mgp.epts) == 131
    assert mgp.ept("T6").nom == "Plaine Commune" and "93066" in mgp.ept("T6").communes
    assert len(load_membership()) == 131


def test_fuzzy_lookups(mgp):
    assert mgp.commune("saint maur").insee == "94068"
    assert mgp.commune("SAINT-MAUR-DES-FOSSES").nom == "Saint-Maur-des-Fossés"
    assert mgp.commune("st denis").insee == "93066"
    assert mgp.commune("l'hay les roses").insee == "94038"  # named "Haÿ-les-Roses" in the source
    assert mgp.commune("Boulogne Billancourt").insee == "92012"
    assert mgp.commune("92012").nom == "Boulogne-Billancourt"
    assert mgp.ept("plaine commune").id == "T6"
    assert mgp.ept("est ensemble").id == "T8"
    assert mgp.find("T12").nom == "Grand-Orly Seine Bièvre"
    with pytest.raises(UserInputError, match="No MGP commune matches"):
        mgp.commune("Lyon")


def test_bbox_in_lambert93_and_dissolved_ept(mgp):
    xmin, ymin, xmax, ymax = mgp.bbox("Paris")
    # Paris (with the Bois de Vincennes) in Lambert-93: x 643-661 km, y 6857-6867 km
    assert 640_000 < xmin < 645_000 and 658_000 < xmax < 663_000
    assert 6_855_000 < ymin < 6_858_000 and 6_864_000 < ymax < 6_869_000
    from shapely.geometry import shape

    t6 = shape(mgp.ept_geometry("T6"))
    parts = [shape(mgp.commune(c).geometry) for c in mgp.ept("T6").communes]
    assert t6.area == pytest.approx(sum(p.area for p in parts), rel=0.02)
    assert t6.geom_type in ("Polygon", "MultiPolygon")


def test_fetch_from_geo_api_then_cache_then_offline(loopback, shared_data, tmp_path):
    srv = loopback()
    FakeGeoApi(srv, shared_data)
    cache = DatasetCache(tmp_path)
    b = Boundaries.fetch(srv.url, HttpClient(timeout=10, retries=0), cache)
    assert len(b.communes) == 131 and len(b.epts) == 12
    assert b.commune("Argenteuil").ept_id == "T5"
    paths = {r.path for r in srv.log}
    assert "/communes" in paths and "/communes/95018" in paths
    assert {r.arg("codeDepartement") for r in srv.log if r.path == "/communes"} == {"75", "92", "93", "94"}
    n_requests = len(srv.log)
    again = Boundaries.fetch(srv.url, HttpClient(timeout=10, retries=0), cache)
    assert len(srv.log) == n_requests  # served from the GeoPackage cache
    assert again.commune("saint maur").geometry is not None and again.age_text == "retrieved just now"
    url = srv.url
    srv.stop()
    offline = Boundaries.fetch(url, HttpClient(timeout=2, retries=0), cache, refresh=True)
    assert len(offline.communes) == 131


def test_fetch_without_network_or_cache_is_a_clear_error(tmp_path):
    with pytest.raises(NetworkError, match="Could not connect"):
        Boundaries.fetch(
            "http://127.0.0.1:9",
            HttpClient(timeout=2, retries=0),
            DatasetCache(tmp_path),
            bundled_fallback=False,
        )
    assert list(tmp_path.iterdir()) == []


def test_fetch_unreachable_without_cache_uses_the_bundled_boundaries_and_says_so(loopback, tmp_path):
    """Issue 9 item 7: offline with an empty cache, the 131 communes / 12 EPT still come (bundled copy)."""
    srv = loopback()
    url = srv.url
    srv.stop()  # the boundaries service is down
    b = Boundaries.fetch(url, HttpClient(timeout=2, retries=0), DatasetCache(tmp_path))
    assert len(b.communes) == 131 and len(b.epts) == 12
    assert b.commune("saint maur").geometry is not None
    assert b.note.startswith("Network unreachable: the bundled IGN ADMIN EXPRESS boundaries")
    assert "Licence Ouverte, 2018" in b.note
    assert list(tmp_path.iterdir()) == []  # the bundled copy is not passed off as a fresh download
