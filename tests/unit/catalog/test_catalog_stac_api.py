"""STAC API item search against a real server (``rustac serve``), directly and through a proxy."""

from __future__ import annotations

import pytest

from idf_hr_plugin.core.catalog.model import SearchQuery, SourceConfig
from idf_hr_plugin.core.catalog.stac_api import StacApiSource
from idf_hr_plugin.core.catalog.stac_item import bbox_intersects
from idf_hr_plugin.core.errors import Cancelled, NetworkError, UserInputError
from tests.servers import Fault, Reply

from .conftest import N_PER_COLLECTION, all_api_items, fast_client


def _source(url: str, **client_kw) -> StacApiSource:
    return StacApiSource(
        SourceConfig(id="api", name="STAC API test", kind="stac-api", url=url), fast_client(**client_kw)
    )


def test_landing_conformance_and_collections(stac_api):
    src = _source(stac_api)
    assert "https://api.stacspec.org/v1.0.0/item-search" in src.conforms_to()
    cols = {c.id: c for c in src.collections()}
    assert set(cols) == {"ortho-2021", "ortho-2024"}
    assert cols["ortho-2024"].title == "Orthophotos THR 2024"
    assert cols["ortho-2024"].temporal[0].startswith("2024-01-01")


def test_post_search_pages_through_next_links(stac_api):
    items = list(_source(stac_api).search(SearchQuery(limit=1000, page_size=40)))
    assert len(items) == 2 * N_PER_COLLECTION  # 8 pages of 40
    assert len({(it.collection, it.id) for it in items}) == len(items)
    it = next(i for i in items if i.id == "ortho-2024-0007")
    assert it.assets["image"].href == "https://images.example.org/ortho-2024/tile_0007.tif"
    assert it.thumbnail is not None and it.epsg == 2154 and it.gsd == 0.2


def test_limit_stops_paging(stac_api, api_proxy):
    srv = api_proxy()
    items = list(_source(srv.url).search(SearchQuery(limit=95, page_size=40)))
    assert len(items) == 95
    assert sum(1 for r in srv.log if r.path == "/search") == 3  # 40 + 40 + 15 needed


def test_gsd_and_crs_from_every_convention(stac_api):
    items = {
        it.id: it
        for it in _source(stac_api).search(SearchQuery(collections=["ortho-2021"], limit=10, page_size=10))
    }
    assert items["ortho-2021-0000"].gsd == 0.2  # gsd
    assert items["ortho-2021-0001"].gsd == 0.2  # eo:gsd
    assert items["ortho-2021-0002"].gsd == 0.2  # raster:bands spatial_resolution
    assert all(it.epsg == 2154 for it in items.values())  # proj:epsg


def test_filters_match_the_data(stac_api):
    src = _source(stac_api)
    data = all_api_items()
    got = list(src.search(SearchQuery(collections=["ortho-2024"], limit=1000)))
    assert len(got) == N_PER_COLLECTION and {it.collection for it in got} == {"ortho-2024"}

    bbox = (2.1, 48.7, 2.3, 48.8)
    expected = {d["id"] for d in data if bbox_intersects(tuple(d["bbox"]), bbox)}
    got = {it.id for it in src.search(SearchQuery(bbox=bbox, limit=1000))}
    assert got == expected and 0 < len(got) < len(data)

    expected = {d["id"] for d in data if "2024-05-01" <= d["properties"]["datetime"][:10] <= "2024-06-30"}
    got = {
        it.id
        for it in src.search(SearchQuery(datetime_start="2024-05-01", datetime_end="2024-06-30", limit=1000))
    }
    assert got == expected and len(got) > 0
    # open start
    got = list(src.search(SearchQuery(datetime_end="2022-12-31", limit=1000)))
    assert len(got) == N_PER_COLLECTION and all(it.year == 2021 for it in got)

    # max GSD is applied locally: only the 5 cm tiles of 2024 remain
    got = list(src.search(SearchQuery(max_gsd=0.1, limit=1000)))
    assert len(got) == N_PER_COLLECTION // 2 and all(it.gsd == 0.05 for it in got)


def test_empty_results(stac_api):
    assert list(_source(stac_api).search(SearchQuery(bbox=(5.0, 43.0, 5.1, 43.1)))) == []
    assert list(_source(stac_api).search(SearchQuery(collections=["nope"]))) == []


def test_get_fallback_when_post_is_refused(api_proxy):
    # (rustac 0.9.18 answers "unsupported value" to GET bbox/collections parameters, so the
    # GET paging against it filters by datetime; parameter encoding is checked below)
    srv = api_proxy(allow_post=False)
    items = list(_source(srv.url).search(SearchQuery(datetime_end="2022-12-31", limit=1000, page_size=50)))
    assert len(items) == N_PER_COLLECTION and {it.collection for it in items} == {"ortho-2021"}
    searches = [r for r in srv.log if r.path == "/search"]
    assert all(r.method == "GET" for r in searches) and len(searches) == 3
    assert searches[0].arg("datetime") == "../2022-12-31T23:59:59Z" and searches[0].arg("limit") == "50"


def test_get_parameters_encoding(loopback):
    srv = loopback()
    srv.route(
        r"/",
        lambda req: Reply(200, {"links": [{"rel": "search", "href": srv.url + "/search", "method": "GET"}]}),
    )
    srv.route(r"/search", lambda req: Reply(200, {"type": "FeatureCollection", "features": [], "links": []}))
    q = SearchQuery(
        bbox=(2.25, 48.8, 2.5, 48.95), collections=["a", "b"], datetime_start="2024-01-01", limit=30
    )
    assert list(_source(srv.url).search(q)) == []
    (req,) = [r for r in srv.log if r.path == "/search"]
    assert req.method == "GET"
    assert req.arg("bbox") == "2.25,48.8,2.5,48.95" and req.arg("collections") == "a,b"
    assert req.arg("datetime") == "2024-01-01T00:00:00Z/.." and req.arg("limit") == "30"


def test_get_fallback_after_405(api_proxy, stac_api):
    srv = api_proxy(allow_post=False)
    src = _source(srv.url)
    src._landing = {"links": [{"rel": "search", "href": srv.url + "/search", "method": "POST"}]}
    items = list(src.search(SearchQuery(limit=60, page_size=50, datetime_start="2024-01-01")))
    assert len(items) == 60 and all(it.year == 2024 for it in items)
    methods = [r.method for r in srv.log if r.path == "/search"]
    assert methods[0] == "POST" and methods[1:] == ["GET", "GET"]


def test_post_next_link_with_merge(loopback):
    """A server whose POST ``next`` links carry a partial body with ``merge: true``."""
    srv = loopback()
    bodies = []

    def landing(req):
        return Reply(
            200,
            {
                "type": "Catalog",
                "id": "x",
                "description": "",
                "conformsTo": [],
                "links": [{"rel": "search", "href": srv.url + "/search", "method": "POST"}],
            },
        )

    def search(req):
        body = req.json()
        bodies.append(body)
        page = int(body.get("token", "0"))
        feats = [
            {
                "id": f"it-{page}-{k}",
                "collection": "c",
                "bbox": [2.3, 48.8, 2.31, 48.81],
                "properties": {"datetime": "2024-06-01T00:00:00Z"},
                "assets": {},
            }
            for k in range(2)
        ]
        links = (
            []
            if page == 2
            else [
                {
                    "rel": "next",
                    "href": srv.url + "/search",
                    "method": "POST",
                    "body": {"token": str(page + 1)},
                    "merge": True,
                }
            ]
        )
        return Reply(200, {"type": "FeatureCollection", "features": feats, "links": links})

    srv.route(r"/", landing)
    srv.route(r"/search", search, method="POST")
    items = list(_source(srv.url).search(SearchQuery(bbox=(2, 48, 3, 49), collections=["c"], limit=100)))
    assert [it.id for it in items] == ["it-0-0", "it-0-1", "it-1-0", "it-1-1", "it-2-0", "it-2-1"]
    assert all(it.bbox == (2.3, 48.8, 2.31, 48.81) for it in items)  # items without "type" parse
    assert (
        bodies[2]["token"] == "2"
        and bodies[2]["collections"] == ["c"]
        and bodies[2]["bbox"] == [2, 48, 3, 49]
    )


def test_duplicates_across_pages_are_dropped(loopback):
    srv = loopback()
    feat = {
        "type": "Feature",
        "id": "same",
        "collection": "c",
        "bbox": [2, 48, 2.1, 48.1],
        "properties": {"datetime": "2024-01-01T00:00:00Z"},
        "assets": {},
        "links": [],
    }
    srv.route(r"/", lambda req: Reply(200, {"links": []}))
    srv.route(r"/search", lambda req: Reply(200, {"features": [feat, feat], "links": []}))
    assert len(list(_source(srv.url).search(SearchQuery()))) == 1


@pytest.mark.parametrize(
    ("fault", "client_kw", "expected"),
    [
        (Fault("status", 500), {"retries": 0}, "HTTP 500"),
        (Fault("timeout", delay=1.5), {"timeout": 0.3, "retries": 0}, "did not answer"),
        (Fault("reset"), {"retries": 0}, "closed it without answering"),
        (Fault("truncate"), {"retries": 0}, "cut off"),
        (Fault("invalid"), {}, "valid JSON"),
    ],
    ids=["500", "timeout", "reset", "truncated", "invalid-json"],
)
def test_search_faults_raise_readable_errors(api_proxy, fault, client_kw, expected):
    srv = api_proxy()
    srv.fault("/search", fault)
    with pytest.raises(NetworkError) as err:
        list(_source(srv.url, **client_kw).search(SearchQuery(limit=10)))
    assert expected in str(err.value)


def test_landing_404_is_reported(api_proxy):
    srv = api_proxy()
    srv.fault("/", Fault("status", 404))
    with pytest.raises(NetworkError, match="HTTP 404"):
        list(_source(srv.url).search(SearchQuery(limit=10)))


def test_transient_errors_are_retried(api_proxy):
    srv = api_proxy()
    srv.fault("/search", Fault("status", 429, times=1, retry_after="1"))
    items = list(_source(srv.url).search(SearchQuery(limit=10)))
    assert len(items) == 10
    srv.fault("/search", Fault("status", 503, times=1))
    assert len(list(_source(srv.url).search(SearchQuery(limit=10)))) == 10


def test_cancel(stac_api):
    with pytest.raises(Cancelled):
        list(_source(stac_api).search(SearchQuery(), cancel=lambda: True))


def test_empty_url_is_a_user_error():
    with pytest.raises(UserInputError, match="no URL"):
        StacApiSource(SourceConfig(id="x", name="Régional", kind="stac-api", url=""))


# -- truncated paging is visible; impossible queries are refused before anything is sent ------------
def test_repeating_next_link_is_a_visible_truncation(api_proxy):
    from idf_hr_plugin.core.catalog.sources import run_search, search_sources

    srv = api_proxy(repeat_next=True)
    src = _source(srv.url)
    outcome = run_search(src, SearchQuery(limit=1000, page_size=40))
    # 300 items exist; page 2 points back to page 2: 80 results, flagged, with a sentence saying so
    assert len(outcome.items) == 80 and outcome.truncated
    assert len(outcome.warnings) == 1
    assert (
        "repeats a 'next' page link it already gave: the search stopped after 80 results"
        in outcome.warnings[0]
    )
    multi = search_sources([src], SearchQuery(limit=1000, page_size=40))
    assert multi.truncated and "the search stopped after 80 results" in multi.warnings[0]
    # a complete search is not flagged
    full = run_search(_source(api_proxy().url), SearchQuery(limit=1000, page_size=40))
    assert len(full.items) == 300 and not full.truncated and full.warnings == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            SearchQuery(datetime_start="2024-06-01", datetime_end="2021-01-01"),
            "start date 2024-06-01 is after",
        ),
        (SearchQuery(bbox=(2.5, 48.9, 2.2, 48.8)), "is inverted"),
        (SearchQuery(bbox=(2.2, 48.8, 2.5, 248.9)), "outside longitude -180..180"),
        (SearchQuery(max_gsd=-0.2), "must be a positive number of metres"),
        (SearchQuery(max_gsd=0.0), "must be a positive number of metres"),
        (SearchQuery(limit=0), "at least 1"),
    ],
    ids=["dates", "bbox-inverted", "bbox-range", "gsd-negative", "gsd-zero", "limit"],
)
def test_impossible_queries_are_refused_before_sending(api_proxy, query, expected):
    from idf_hr_plugin.core.catalog.sources import run_search, search_sources

    srv = api_proxy()
    with pytest.raises(UserInputError, match=expected):
        run_search(_source(srv.url), query)
    with pytest.raises(UserInputError, match=expected):
        search_sources([_source(srv.url)], query)
    assert srv.log == []  # nothing was sent


def test_cli_catalog_search_exit_codes(api_proxy, capsys):
    from idf_hr_plugin.cli import main

    srv = api_proxy(repeat_next=True)
    code = main(["catalog-search", "--kind", "stac-api", "--url", srv.url, "--limit", "1000"])
    out, err = capsys.readouterr()
    assert code == 3  # results printed, but incomplete
    assert "200 results." in out  # pages of 100 (the default): page 2 points back to itself
    assert "Warning:" in err and "the search stopped after 200 results" in err
    srv = api_proxy()
    code = main(
        [
            "catalog-search",
            "--kind",
            "stac-api",
            "--url",
            srv.url,
            "--start",
            "2024-06-01",
            "--end",
            "2021-01-01",
        ]
    )
    out, err = capsys.readouterr()
    # refused before sending, by the CLI's own option check (same rule as core's validate_query)
    assert code == 2 and "2024-06-01" in err and "2021-01-01" in err and "Traceback" not in err
    assert "Traceback" not in err and srv.log == []
