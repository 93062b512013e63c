"""Items as GeoJSON footprints (the QGIS results layer and the Processing output use these)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Union

from .model import Item
from .stac_item import bbox_polygon

#: Attribute fields of a footprint, in order, with their type (str|float|int).
FOOTPRINT_FIELDS: list[tuple[str, str]] = [
    ("id", "str"),
    ("datetime", "str"),
    ("gsd", "float"),
    ("collection", "str"),
    ("source", "str"),
    ("title", "str"),
    ("epsg", "int"),
    ("assets", "str"),
    ("thumbnail", "str"),
    ("wmts_layer", "str"),
]


def item_properties(item: Item) -> dict[str, Any]:
    """Footprint attributes of an item; ``assets`` joins the image hrefs (else all hrefs) with ';'."""
    rasters = item.raster_assets() or [a for a in item.assets.values() if "thumbnail" not in a.roles]
    thumb = item.thumbnail
    return {
        "id": item.id,
        "datetime": item.datetime,
        "gsd": item.gsd,
        "collection": item.collection,
        "source": item.source_id,
        "title": item.title,
        "epsg": item.epsg,
        "assets": ";".join(a.href for a in rasters),
        "thumbnail": thumb.href if thumb else None,
        "wmts_layer": item.wmts.layer if item.wmts else None,
    }


def item_to_feature(item: Item) -> dict[str, Any]:
    """GeoJSON Feature (WGS84) of an item; the geometry is its footprint or its bbox."""
    geom = item.geometry or (bbox_polygon(item.bbox) if item.bbox else None)
    return {
        "type": "Feature",
        "id": f"{item.source_id}:{item.id}",
        "geometry": geom,
        "properties": item_properties(item),
    }


def items_to_feature_collection(items: Iterable[Item]) -> dict[str, Any]:
    """GeoJSON FeatureCollection of the items' footprints."""
    return {"type": "FeatureCollection", "features": [item_to_feature(it) for it in items]}


def write_footprints_geojson(items: Iterable[Item], path: Union[str, os.PathLike]) -> Path:
    """Write the footprints as GeoJSON, atomically (temporary file then rename)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.stem + ".", suffix=".part", dir=str(out.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(items_to_feature_collection(items), fh, ensure_ascii=False)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
