"""OGC WMTS capabilities (an IGN Géoplateforme-style document) -> catalog items."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.catalog.model import SearchQuery, SourceConfig
from idf_hr_plugin.core.catalog.presets import IGN_SOURCE_ID, is_ign_ortho_layer
from idf_hr_plugin.core.catalog.sources import make_source
from idf_hr_plugin.core.catalog.stac_item import parse_epsg
from idf_hr_plugin.core.catalog.wmts import WmtsSource, capabilities_url, parse_capabilities, year_range
from idf_hr_plugin.core.errors import NetworkError
from tests.servers import Fault, Reply

from .conftest import DATA, fast_client

CAPS = (DATA / "ign_wmts_capabilities.xml").read_bytes()
PARIS = (2.25, 48.81, 2.42, 48.90)


@pytest.fixture
def wmts_server(loopback):
    srv = loopback()

    def caps(req):
        if (req.arg("REQUEST") or "").lower() != "getcapabilities":
            return Reply(400, "<ExceptionReport/>", {}, "application/xml")
        return Reply(200, CAPS, {}, "application/xml")

    srv.route(r"/wmts", caps)
    return srv


def _items():
    caps = parse_capabilities(CAPS, "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetCapabilities")
    src = WmtsSource(SourceConfig(id="w", name="w", kind="wmts", url="https://data.geopf.fr/wmts"))
    src._caps = caps
    return {it.id: it for it in src.items()}


def test_capabilities_parse_into_layers_and_tile_matrix_sets():
    caps = parse_capabilities(CAPS, "https://data.geopf.fr/wmts")
    assert len(caps.layers) == 11
    assert set(caps.tile_matrix_sets) == {"PM", "PM_0_19", "PM_6_21", "LAMB93_5cm_EPSG", "WGS84G"}
    assert caps.tile_matrix_sets["LAMB93_5cm_EPSG"].epsg == 2154
    assert caps.tile_matrix_sets["PM_0_19"].epsg == 3857
    assert caps.tile_matrix_sets["WGS84G"].epsg == 4326
    assert caps.provider == "IGN"


def test_layers_become_items_in_their_native_tile_matrix_set():
    items = _items()
    pcrs = items["PCRS.LAMB93"]
    assert pcrs.wmts.tile_matrix_set == "LAMB93_5cm_EPSG" and pcrs.wmts.crs == "EPSG:2154"
    assert pcrs.gsd == pytest.approx(0.05) and pcrs.epsg == 2154
    # Lambert-93 preferred when the layer links one, even next to PM
    assert items["HR.ORTHOIMAGERY.ORTHOPHOTOS"].wmts.tile_matrix_set == "LAMB93_5cm_EPSG"
    assert items["HR.ORTHOIMAGERY.ORTHOPHOTOS"].gsd == pytest.approx(0.10)  # limits stop at level 20
    cur = items["ORTHOIMAGERY.ORTHOPHOTOS"]
    assert cur.wmts.tile_matrix_set == "PM_0_19" and cur.wmts.crs == "EPSG:3857"
    assert cur.datetime is None and cur.title == "Photographies aériennes"
    assert cur.bbox == (-5.6, 41.2, 9.9, 51.2)
    assert cur.wmts.style == "normal" and cur.wmts.image_format == "image/jpeg"
    assert cur.wmts.capabilities_url.startswith("https://data.geopf.fr/wmts?")
    # level 19 is 0.30 m nominal in Web Mercator; 0.20 m on the ground in the Paris region
    assert items["ORTHOIMAGERY.ORTHOPHOTOS2024"].gsd == pytest.approx(0.197, abs=0.002)
    thr = items["THR.ORTHOIMAGERY.ORTHOPHOTOS"]
    assert thr.wmts.tile_matrix_set == "PM_6_21" and thr.gsd < 0.06
    assert items["GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2"].wmts.image_format == "image/png"
    assert items["ORTHOIMAGERY.ORTHOPHOTOS.LOWRES"].wmts.crs == "EPSG:4326"


def test_vintages_from_identifiers():
    items = _items()
    assert items["ORTHOIMAGERY.ORTHOPHOTOS2021"].datetime.startswith("2021-01-01")
    assert items["ORTHOIMAGERY.ORTHOPHOTOS.IRC.2024"].year == 2024
    rng = items["ORTHOIMAGERY.ORTHOPHOTOS2000-2005"]
    assert rng.year == 2000 and rng.properties["end_datetime"].startswith("2005-12-31")
    assert year_range("ORTHOIMAGERY.ORTHOPHOTOS.IRC") is None
    assert year_range("PM_6_21") is None


def test_source_fetches_capabilities_and_filters(wmts_server):
    src = WmtsSource(
        SourceConfig(id="w", name="WMTS", kind="wmts", url=f"{wmts_server.url}/wmts"), fast_client()
    )
    assert len(list(src.search(SearchQuery()))) == 11
    in_paris = {it.id for it in src.search(SearchQuery(bbox=PARIS))}
    assert "ORTHOIMAGERY.ORTHOPHOTOS2021" not in in_paris  # that vintage covers the south only
    assert {"PCRS.LAMB93", "ORTHOIMAGERY.ORTHOPHOTOS2024", "THR.ORTHOIMAGERY.ORTHOPHOTOS"} <= in_paris
    years = {it.id for it in src.search(SearchQuery(datetime_start="2023-01-01", datetime_end="2024-12-31"))}
    assert years == {"ORTHOIMAGERY.ORTHOPHOTOS2024", "ORTHOIMAGERY.ORTHOPHOTOS.IRC.2024"}
    old = {it.id for it in src.search(SearchQuery(datetime_start="2003-01-01", datetime_end="2003-12-31"))}
    assert old == {"ORTHOIMAGERY.ORTHOPHOTOS2000-2005"}
    irc = {it.id for it in src.search(SearchQuery(), text="infrarouge")}
    assert irc == {"ORTHOIMAGERY.ORTHOPHOTOS.IRC", "ORTHOIMAGERY.ORTHOPHOTOS.IRC.2024"}
    fine = {it.id for it in src.search(SearchQuery(max_gsd=0.06))}
    assert fine == {"PCRS.LAMB93", "THR.ORTHOIMAGERY.ORTHOPHOTOS"}
    assert [it.id for it in src.search(SearchQuery(collections=["PCRS.LAMB93"]))] == ["PCRS.LAMB93"]
    # capabilities fetched once per source
    assert sum(1 for r in wmts_server.log if r.path == "/wmts") == 1


def test_ign_preset_keeps_the_ortho_layers(wmts_server):
    cfg = SourceConfig(id=IGN_SOURCE_ID, name="IGN", kind="wmts", url=f"{wmts_server.url}/wmts")
    src = make_source(cfg, fast_client())
    ids = {it.id for it in src.search(SearchQuery())}
    assert ids == {
        "ORTHOIMAGERY.ORTHOPHOTOS",
        "ORTHOIMAGERY.ORTHOPHOTOS.IRC",
        "HR.ORTHOIMAGERY.ORTHOPHOTOS",
        "THR.ORTHOIMAGERY.ORTHOPHOTOS",
        "PCRS.LAMB93",
        "ORTHOIMAGERY.ORTHOPHOTOS2021",
        "ORTHOIMAGERY.ORTHOPHOTOS2024",
        "ORTHOIMAGERY.ORTHOPHOTOS2000-2005",
        "ORTHOIMAGERY.ORTHOPHOTOS.IRC.2024",
    }
    it = next(iter(src.search(SearchQuery(collections=["PCRS.LAMB93"]))))
    assert "IGN" in it.attribution and "Etalab" in it.license
    assert is_ign_ortho_layer("ORTHOIMAGERY.ORTHOPHOTOS.ORTHO-EXPRESS.2025")
    assert not is_ign_ortho_layer("GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2")


def test_doctype_is_refused():
    bomb = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0"><Contents>&lol2;</Contents></Capabilities>"""
    with pytest.raises(NetworkError, match="DOCTYPE"):
        parse_capabilities(bomb, "http://example.org/wmts")


def test_exception_report_and_wrong_document():
    report = b"""<?xml version="1.0"?><ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.1.0">
<ows:Exception exceptionCode="InvalidParameterValue"><ows:ExceptionText>Layer unknown</ows:ExceptionText></ows:Exception>
</ows:ExceptionReport>"""
    with pytest.raises(NetworkError, match="Layer unknown"):
        parse_capabilities(report, "http://example.org/wmts")
    with pytest.raises(NetworkError, match="not WMTS capabilities"):
        parse_capabilities(b"<html><body>hello</body></html>", "http://example.org/wmts")


@pytest.mark.parametrize(
    ("fault", "client_kw", "expected"),
    [
        (Fault("invalid"), {}, "invalid XML"),
        (Fault("status", 404), {}, "HTTP 404"),
        (Fault("truncate"), {"retries": 0}, "cut off"),
    ],
    ids=["invalid-xml", "404", "truncated"],
)
def test_capabilities_faults(wmts_server, fault, client_kw, expected):
    wmts_server.fault("/wmts", fault)
    src = WmtsSource(
        SourceConfig(id="w", name="w", kind="wmts", url=f"{wmts_server.url}/wmts"), fast_client(**client_kw)
    )
    with pytest.raises(NetworkError) as err:
        list(src.search(SearchQuery()))
    assert expected in str(err.value)


def test_capabilities_url_and_crs_parsing():
    assert capabilities_url("https://data.geopf.fr/wmts") == (
        "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0"
    )
    u = "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetCapabilities"
    assert capabilities_url(u) == u
    assert capabilities_url("https://host/WMTSCapabilities.xml") == "https://host/WMTSCapabilities.xml"
    assert parse_epsg("urn:ogc:def:crs:EPSG::2154") == 2154
    assert parse_epsg("urn:ogc:def:crs:EPSG:6.18.3:3857") == 3857
    assert parse_epsg("http://www.opengis.net/def/crs/EPSG/0/2154") == 2154
    assert parse_epsg("EPSG:3857") == 3857
    assert parse_epsg("IGNF:LAMB93") == 2154
    assert parse_epsg("urn:ogc:def:crs:OGC:1.3:CRS84") == 4326
    assert parse_epsg("nonsense") is None
