"""Fixtures of the catalog tests: a real STAC API (``rustac serve``), a proxy in front of it
(for fault injection and GET-only servers), and generated static catalogs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from idf_hr_plugin.core.http import HttpClient

DATA = Path(__file__).parent / "data"
N_PER_COLLECTION = 150
COLLECTIONS = ("ortho-2021", "ortho-2024")


def fast_client(**kw) -> HttpClient:
    """A client with short back-off so fault tests stay fast."""
    kw.setdefault("timeout", 5.0)
    kw.setdefault("retries", 2)
    kw.setdefault("backoff", 0.05)
    return HttpClient(**kw)


def api_item(coll: str, i: int) -> dict:
    """Generated item ``i`` of ``coll``: a 0.04° x 0.03° tile on a 15 x 10 grid over Île-de-France."""
    x = round(2.0 + (i % 15) * 0.05, 6)
    y = round(48.6 + (i // 15) * 0.04, 6)
    year = 2021 if coll == "ortho-2021" else 2024
    month = 4 + (i % 6)  # April..September
    props: dict = {"datetime": f"{year}-{month:02d}-{1 + i % 28:02d}T10:30:00Z"}
    asset = {
        "href": f"https://images.example.org/{coll}/tile_{i:04d}.tif",
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data"],
    }
    if coll == "ortho-2021":
        props["proj:epsg"] = 2154
        if i % 3 == 0:
            props["gsd"] = 0.2
        elif i % 3 == 1:
            props["eo:gsd"] = 0.2
        else:
            asset["raster:bands"] = [{"spatial_resolution": 0.2}] * 3
    else:
        props["proj:code"] = "EPSG:2154"
        props["gsd"] = 0.05 if i % 2 == 0 else 0.2
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"{coll}-{i:04d}",
        "collection": coll,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[x, y], [x + 0.04, y], [x + 0.04, y + 0.03], [x, y + 0.03], [x, y]]],
        },
        "bbox": [x, y, x + 0.04, y + 0.03],
        "properties": props,
        "links": [],
        "assets": {
            "image": asset,
            "thumbnail": {
                "href": f"https://images.example.org/{coll}/tile_{i:04d}.png",
                "type": "image/png",
                "roles": ["thumbnail"],
            },
        },
    }


def all_api_items() -> list[dict]:
    return [api_item(c, i) for c in COLLECTIONS for i in range(N_PER_COLLECTION)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def stac_api(tmp_path_factory) -> str:
    """A real STAC API (``rustac serve``, in-memory backend) with 2 collections x 150 items."""
    d = tmp_path_factory.mktemp("rustac")
    files = []
    for coll in COLLECTIONS:
        year = coll.split("-")[1]
        col = {
            "type": "Collection",
            "stac_version": "1.0.0",
            "id": coll,
            "title": f"Orthophotos THR {year}",
            "description": f"Synthetic test vintage {year}",
            "license": "etalab-2.0",
            "extent": {
                "spatial": {"bbox": [[2.0, 48.6, 2.75, 49.0]]},
                "temporal": {"interval": [[f"{year}-01-01T00:00:00Z", f"{year}-12-31T23:59:59Z"]]},
            },
            "links": [],
        }
        (d / f"{coll}.json").write_text(json.dumps(col))
        fc = {"type": "FeatureCollection", "features": [api_item(coll, i) for i in range(N_PER_COLLECTION)]}
        (d / f"{coll}-items.json").write_text(json.dumps(fc))
        files += [str(d / f"{coll}.json"), str(d / f"{coll}-items.json")]
    port = _free_port()
    exe = str(Path(sys.executable).parent / "rustac")
    proc = subprocess.Popen(
        [exe, "serve", "-a", f"127.0.0.1:{port}", *files],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"rustac serve exited: {proc.stderr.read().decode(errors='replace')}")
            try:
                if requests.get(url + "collections", timeout=1).json().get("collections"):
                    break
            except (requests.RequestException, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("rustac serve did not become ready within 30 s")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def api_proxy(loopback, stac_api):
    """Factory: a loopback proxy in front of the rustac API (faults can be injected on it).

    ``allow_post=False`` makes it answer 405 to POST /search, like a GET-only STAC API;
    ``repeat_next=True`` gives, on every page, the ``next`` link of the first page (a paging bug seen
    on real APIs: without a guard the client would loop, with one it stops early).
    """

    def make(allow_post: bool = True, repeat_next: bool = False):
        srv = loopback()
        upstream = stac_api.rstrip("/")
        first_next: list[dict] = []

        def forward(req):
            from tests.servers import Reply

            if req.method == "POST" and not allow_post:
                return Reply(405, {"code": "MethodNotAllowed", "description": "POST not allowed"})
            qs = urlencode(req.query, doseq=True)
            url = upstream + req.path + ("?" + qs if qs else "")
            resp = requests.request(
                req.method,
                url,
                data=req.body or None,
                headers={"Content-Type": req.headers.get("content-type", "application/json")},
                timeout=10,
            )
            body = resp.content.replace(upstream.encode(), srv.url.encode())
            if not allow_post:  # advertise GET only, as such a server would
                try:
                    doc = json.loads(body)
                    if isinstance(doc, dict) and isinstance(doc.get("links"), list):
                        doc["links"] = [
                            lk
                            for lk in doc["links"]
                            if not (lk.get("rel") == "search" and lk.get("method") == "POST")
                        ]
                        body = json.dumps(doc).encode()
                except ValueError:
                    pass
            if repeat_next and req.path.endswith("/search"):
                doc = json.loads(body)
                links = [lk for lk in doc.get("links", []) if lk.get("rel") != "next"]
                nxt = [lk for lk in doc.get("links", []) if lk.get("rel") == "next"]
                if nxt and not first_next:
                    first_next.append(nxt[0])
                doc["links"] = links + first_next[:1] if nxt else links
                body = json.dumps(doc).encode()
            return Reply(resp.status_code, body, {}, resp.headers.get("content-type", "application/json"))

        srv.route(r"/.*", forward)
        return srv

    return make


# -- static catalogs ---------------------------------------------------------------------------------


@dataclass
class StaticCatalog:
    root: Path  # folder served / read
    catalog: Path  # root catalog.json
    n_items: int  # items reachable (valid)


def _write(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))


def static_item(
    i: int, year: int, assets: dict, with_type: bool = True, collection: str | None = None
) -> dict:
    x = 2.30 + (i % 4) * 0.01
    y = 48.85 + (i // 4) * 0.01
    doc = {
        "stac_version": "1.0.0",
        "id": f"tile-{year}-{i}",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]],
        },
        "bbox": [x, y, x + 0.01, y + 0.01],
        "properties": {
            "datetime": f"{year}-06-{10 + i:02d}T11:00:00Z",
            "gsd": 0.05 if year == 2026 else 0.2,
            "proj:code": "EPSG:2154",
        },
        "links": [],
        "assets": assets,
    }
    if with_type:
        doc["type"] = "Feature"
    if collection:
        doc["collection"] = collection
    return doc


def build_static_catalog(root: Path) -> StaticCatalog:
    """root/catalog.json -> region/catalog.json (only child catalogs) -> 2024/collection.json (item links)
    and 2026/collection.json (an ItemCollection linked with rel=items); plus a broken child and a child
    escaping the catalog with '..'. Tile images sit under root/data/."""
    cog = "image/tiff; application=geotiff; profile=cloud-optimized"
    _write(
        root / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "root",
            "description": "test",
            "links": [
                {"rel": "root", "href": "./catalog.json"},
                {"rel": "child", "href": "./region/catalog.json"},
                {"rel": "child", "href": "./missing/catalog.json"},
                {"rel": "child", "href": "../outside/catalog.json"},
                {"rel": "child", "href": "s3://bucket/catalog.json"},
            ],
        },
    )
    _write(
        root / "region" / "catalog.json",
        {
            "type": "Catalog",
            "stac_version": "1.0.0",
            "id": "region",
            "description": "only child catalogs",
            "links": [
                {"rel": "child", "href": "2024/collection.json"},
                {"rel": "child", "href": "./2026/collection.json"},
            ],
        },
    )
    coll = lambda cid, year, links: {  # noqa: E731
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "title": f"THR {year}",
        "description": f"vintage {year}",
        "license": "etalab-2.0",
        "providers": [{"name": "Région Île-de-France", "roles": ["licensor"]}],
        "extent": {
            "spatial": {"bbox": [[2.3, 48.85, 2.35, 48.9]]},
            "temporal": {"interval": [[f"{year}-01-01T00:00:00Z", None]]},
        },
        "links": links,
    }
    _write(
        root / "region" / "2024" / "collection.json",
        coll("thr-2024", 2024, [{"rel": "item", "href": f"./items/tile-2024-{i}.json"} for i in range(4)]),
    )
    # item 0: relative asset climbing to root/data (allowed, inside the catalog); no "type"
    _write(
        root / "region" / "2024" / "items" / "tile-2024-0.json",
        static_item(
            0,
            2024,
            {
                "image": {"href": "../../../data/tile-2024-0.tif", "type": cog, "roles": ["data"]},
            },
            with_type=False,
        ),
    )
    # item 1: absolute http asset + a refused s3:// asset
    _write(
        root / "region" / "2024" / "items" / "tile-2024-1.json",
        static_item(
            1,
            2024,
            {
                "image": {
                    "href": "https://images.example.org/tile-2024-1.tif",
                    "type": cog,
                    "roles": ["data"],
                },
                "mirror": {"href": "s3://bucket/tile-2024-1.tif", "type": cog},
            },
            collection="thr-2024",
        ),
    )
    # item 2: file:// asset (refused from a remote catalog, allowed from the local one)
    _write(
        root / "region" / "2024" / "items" / "tile-2024-2.json",
        static_item(
            2,
            2024,
            {
                "image": {"href": "file:///srv/imagery/tile-2024-2.tif", "type": cog, "roles": ["data"]},
                "thumbnail": {"href": "tile-2024-2.png", "type": "image/png", "roles": ["thumbnail"]},
            },
        ),
    )
    # item 3: an asset escaping the catalog root with ..
    _write(
        root / "region" / "2024" / "items" / "tile-2024-3.json",
        static_item(
            3,
            2024,
            {
                "image": {"href": "../../../../../../etc/tile.tif", "type": cog, "roles": ["data"]},
                "ok": {"href": "../../../data/tile-2024-3.tif", "type": cog, "roles": ["data"]},
            },
        ),
    )
    _write(
        root / "region" / "2026" / "collection.json",
        coll(
            "thr-2026",
            2026,
            [
                {"rel": "items", "href": "./items.json", "type": "application/geo+json"},
            ],
        ),
    )
    _write(
        root / "region" / "2026" / "items.json",
        {
            "type": "FeatureCollection",
            "features": [
                static_item(
                    i,
                    2026,
                    {"image": {"href": f"../../data/tile-2026-{i}.tif", "type": cog, "roles": ["data"]}},
                    collection="thr-2026",
                )
                for i in range(3)
            ],
        },
    )
    (root / "data").mkdir(exist_ok=True)
    return StaticCatalog(root=root, catalog=root / "catalog.json", n_items=7)


@pytest.fixture
def static_catalog(tmp_path) -> StaticCatalog:
    return build_static_catalog(tmp_path / "stac")
