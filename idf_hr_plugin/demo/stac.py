"""Static STAC 1.1 catalog over the demo tiles (relative links, projection extension v2)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pyproj import Transformer

STAC_VERSION = "1.1.0"
PROJ_EXT = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
LICENSE = "etalab-2.0"
LICENSE_TEXT = "Etalab-2.0 (synthetic demo data)"


@dataclass
class TileRecord:
    """One written COG tile."""

    year: int
    res_cm: int
    path: Path  # the .tif
    thumb: Path  # the .png thumbnail
    bbox: tuple[float, float, float, float]  # EPSG:2154
    shape: tuple[int, int]  # rows, cols


def _wgs84_bbox(b) -> list[float]:
    t = Transformer.from_crs("EPSG:2154", "EPSG:4326", always_xy=True)
    xs, ys = [], []
    for x, y in ((b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])):
        lon, lat = t.transform(x, y)
        xs.append(lon)
        ys.append(lat)
    return [round(min(xs), 7), round(min(ys), 7), round(max(xs), 7), round(max(ys), 7)]


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def collection_id(year: int, res_cm: int) -> str:
    """Collection id of a vintage and resolution, e.g. ``idfhr-demo-2024-20cm``."""
    return f"idfhr-demo-{year}-{res_cm}cm"


def write_catalog(root: Path, tiles: list[TileRecord], commune: str) -> Path:
    """Write ``catalog.json``, one collection per (vintage, resolution), one item per tile."""
    groups: dict[tuple[int, int], list[TileRecord]] = {}
    for t in tiles:
        groups.setdefault((t.year, t.res_cm), []).append(t)
    cat_links = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
    for (year, res_cm), recs in sorted(groups.items()):
        cid = collection_id(year, res_cm)
        cdir = recs[0].path.parent
        rel = cdir.relative_to(root).as_posix()
        cat_links.append(
            {"rel": "child", "href": f"./{rel}/collection.json", "type": "application/json", "title": cid}
        )
        items_links = []
        union = [
            min(r.bbox[0] for r in recs),
            min(r.bbox[1] for r in recs),
            max(r.bbox[2] for r in recs),
            max(r.bbox[3] for r in recs),
        ]
        for r in sorted(recs, key=lambda r: r.path.name):
            iid = r.path.stem
            item = {
                "type": "Feature",
                "stac_version": STAC_VERSION,
                "stac_extensions": [PROJ_EXT],
                "id": iid,
                "collection": cid,
                "bbox": _wgs84_bbox(r.bbox),
                "geometry": None,
                "properties": {
                    "datetime": f"{year}-06-15T11:00:00Z",
                    "gsd": res_cm / 100.0,
                    "proj:code": "EPSG:2154",
                    "proj:bbox": [float(v) for v in r.bbox],
                    "proj:shape": [int(r.shape[0]), int(r.shape[1])],
                    "proj:transform": [
                        res_cm / 100.0,
                        0.0,
                        float(r.bbox[0]),
                        0.0,
                        -res_cm / 100.0,
                        float(r.bbox[3]),
                        0.0,
                        0.0,
                        1.0,
                    ],
                    "idfhr:synthetic": True,
                    "idfhr:vintage": year,
                    "license": LICENSE,
                    "title": f"Synthetic demo tile {year} {res_cm} cm",
                },
                "links": [
                    {"rel": "root", "href": "../catalog.json", "type": "application/json"},
                    {"rel": "parent", "href": "./collection.json", "type": "application/json"},
                    {"rel": "collection", "href": "./collection.json", "type": "application/json"},
                ],
                "assets": {
                    "image": {
                        "href": f"./{r.path.name}",
                        "type": COG_TYPE,
                        "roles": ["data"],
                        "title": f"RGB {res_cm} cm (synthetic)",
                    },
                    "thumbnail": {
                        "href": f"./{r.thumb.name}",
                        "type": "image/png",
                        "roles": ["thumbnail"],
                        "title": "Thumbnail",
                    },
                },
            }
            b = item["bbox"]
            item["geometry"] = {
                "type": "Polygon",
                "coordinates": [[[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]]],
            }
            _write_json(cdir / f"{iid}.json", item)
            items_links.append({"rel": "item", "href": f"./{iid}.json", "type": "application/geo+json"})
        coll = {
            "type": "Collection",
            "stac_version": STAC_VERSION,
            "stac_extensions": [PROJ_EXT],
            "id": cid,
            "title": f"IdF HR synthetic demo {year}, {res_cm} cm",
            "description": (
                f"SYNTHETIC demo orthophoto, vintage {year}, {res_cm} cm RGB, generated by the IdF HR plugin; "
                f"imitates a suburb of {commune}. Not real imagery."
            ),
            "license": LICENSE,
            "keywords": ["synthetic", "demo", "orthophoto", "Île-de-France"],
            "extent": {
                "spatial": {"bbox": [_wgs84_bbox(union)]},
                "temporal": {"interval": [[f"{year}-06-15T11:00:00Z", f"{year}-06-15T11:00:00Z"]]},
            },
            "summaries": {"gsd": [res_cm / 100.0], "proj:code": ["EPSG:2154"]},
            "providers": [{"name": "IdF HR demo generator (synthetic)", "roles": ["producer", "processor"]}],
            "links": [
                {"rel": "root", "href": "../catalog.json", "type": "application/json"},
                {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
                {
                    "rel": "license",
                    "href": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
                    "title": LICENSE_TEXT,
                },
                *items_links,
            ],
        }
        _write_json(cdir / "collection.json", coll)
    cat = {
        "type": "Catalog",
        "stac_version": STAC_VERSION,
        "id": "idfhr-demo",
        "title": "IdF HR synthetic demo region",
        "description": (
            f"SYNTHETIC demo catalog of the IdF HR plugin: generated aerial imagery (two vintages, 20 cm and a 5 cm subset) "
            f"placed in Lambert-93 over {commune}. Not real imagery; licence {LICENSE_TEXT}."
        ),
        "idfhr:synthetic": True,
        "links": cat_links,
    }
    path = root / "catalog.json"
    _write_json(path, cat)
    return path
