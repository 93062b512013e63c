"""Turn STAC JSON (items, collections) into the catalog model, and apply filters locally."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Optional

from ..errors import UserInputError
from ..i18n import tr
from .hrefs import resolve_href
from .model import Asset, Collection, Item, SearchQuery

LOG = logging.getLogger("idf_hr.catalog")

HREF_ERRORS_KEY = "idf_hr:href_errors"


def looks_like_item(doc: Any) -> bool:
    """True for a STAC Item, also when its ``type`` member is missing."""
    if not isinstance(doc, dict):
        return False
    if doc.get("type") == "Feature":
        return True
    return "type" not in doc and "assets" in doc and ("geometry" in doc or "properties" in doc)


def looks_like_item_collection(doc: Any) -> bool:
    return isinstance(doc, dict) and (
        doc.get("type") == "FeatureCollection"
        or ("type" not in doc and isinstance(doc.get("features"), list))
    )


def looks_like_collection(doc: Any) -> bool:
    return isinstance(doc, dict) and (doc.get("type") == "Collection" or ("extent" in doc and "id" in doc))


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    return None


def _gsd_of(mapping: dict[str, Any]) -> Optional[float]:
    for key in ("gsd", "eo:gsd"):
        v = _num(mapping.get(key))
        if v:
            return v
    bands = mapping.get("raster:bands")
    if isinstance(bands, list):
        vals = [_num(b.get("spatial_resolution")) for b in bands if isinstance(b, dict)]
        vals = [v for v in vals if v]
        if vals:
            return min(vals)
    return None


def parse_epsg(value: Any) -> Optional[int]:
    """EPSG code from ``2154``, ``"EPSG:2154"``, ``"urn:ogc:def:crs:EPSG::2154"``, OGC http URIs."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    up = text.upper()
    if "CRS84" in up:
        return 4326
    if up in ("IGNF:LAMB93", "LAMB93"):
        return 2154
    m = re.search(r"EPSG(?::[\d.]*:|/\d+/|:)(\d+)$", up)
    return int(m.group(1)) if m else None


def _epsg_of(mapping: dict[str, Any]) -> Optional[int]:
    for key in ("proj:code", "proj:epsg"):
        v = parse_epsg(mapping.get(key))
        if v:
            return v
    return None


def bbox_of_geometry(geom: Any) -> Optional[tuple[float, float, float, float]]:
    """Bounding box of a GeoJSON geometry (any type), or ``None``."""
    xs: list[float] = []
    ys: list[float] = []

    def walk(coords: Any) -> None:
        if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
            xs.append(float(coords[0]))
            ys.append(float(coords[1]))
        elif isinstance(coords, (list, tuple)):
            for c in coords:
                walk(c)

    if not isinstance(geom, dict):
        return None
    if geom.get("type") == "GeometryCollection":
        boxes = [bbox_of_geometry(g) for g in geom.get("geometries", [])]
        boxes = [b for b in boxes if b]
        if not boxes:
            return None
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    walk(geom.get("coordinates"))
    if not xs:
        return None
    return (min(xs), min(ys), max(xs), max(ys))


def bbox_polygon(bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """GeoJSON polygon of a lon/lat bounding box."""
    x0, y0, x1, y1 = bbox
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _bbox4(value: Any) -> Optional[tuple[float, float, float, float]]:
    if isinstance(value, (list, tuple)) and len(value) in (4, 6):
        try:
            v = [float(x) for x in value]
        except (TypeError, ValueError):
            return None
        if len(v) == 6:
            return (v[0], v[1], v[3], v[4])
        return (v[0], v[1], v[2], v[3])
    return None


def parse_assets(raw: Any, base: Optional[str], root: Optional[str], errors: list[str]) -> dict[str, Asset]:
    """Validated assets; refused hrefs are left out and their message appended to ``errors``."""
    assets: dict[str, Asset] = {}
    if not isinstance(raw, dict):
        return assets
    for key, a in raw.items():
        if not isinstance(a, dict) or not a.get("href"):
            continue
        try:
            href = resolve_href(str(a["href"]), base, root)
        except UserInputError as exc:
            LOG.warning("asset %s refused: %s", key, exc)
            errors.append(str(exc))
            continue
        roles = a.get("roles") if isinstance(a.get("roles"), list) else []
        assets[str(key)] = Asset(
            key=str(key),
            href=href,
            media_type=a.get("type"),
            roles=[str(r) for r in roles],
            title=a.get("title"),
        )
    return assets


def _attribution(props: dict[str, Any], fallback: Optional[str]) -> Optional[str]:
    providers = props.get("providers")
    if isinstance(providers, list):
        names = [str(p.get("name")) for p in providers if isinstance(p, dict) and p.get("name")]
        if names:
            return ", ".join(names)
    return props.get("attribution") or fallback


def item_from_stac(
    doc: dict[str, Any],
    source_id: str,
    base: Optional[str],
    root: Optional[str] = None,
    parent: Optional[Collection] = None,
    parent_attribution: Optional[str] = None,
) -> Item:
    """Build an :class:`Item` from a STAC Item dict (``type`` optional), validating asset hrefs."""
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else {}
    geometry = doc.get("geometry") if isinstance(doc.get("geometry"), dict) else None
    bbox = _bbox4(doc.get("bbox")) or bbox_of_geometry(geometry)
    if geometry is None and bbox is not None:
        geometry = bbox_polygon(bbox)
    self_href = None
    for link in doc.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "self" and link.get("href"):
            try:
                self_href = resolve_href(str(link["href"]), base, root)
            except UserInputError:
                self_href = None
            break
    self_href = self_href or base
    errors: list[str] = []
    assets = parse_assets(doc.get("assets"), self_href or base, root, errors)
    gsd = _gsd_of(props)
    if gsd is None:
        for a in (doc.get("assets") or {}).values():
            if isinstance(a, dict):
                gsd = _gsd_of(a)
                if gsd:
                    break
    epsg = _epsg_of(props)
    if epsg is None:
        for a in (doc.get("assets") or {}).values():
            if isinstance(a, dict):
                epsg = _epsg_of(a)
                if epsg:
                    break
    properties = dict(props)
    if errors:
        properties[HREF_ERRORS_KEY] = errors
    collection = doc.get("collection") or (parent.id if parent else None)
    return Item(
        id=str(doc.get("id") or (self_href or "item")),
        source_id=source_id,
        collection=str(collection) if collection else None,
        datetime=props.get("datetime") or props.get("start_datetime"),
        bbox=bbox,
        geometry=geometry,
        gsd=gsd,
        epsg=epsg,
        assets=assets,
        title=props.get("title"),
        license=props.get("license") or (parent.license if parent else None),
        attribution=_attribution(props, parent_attribution),
        properties=properties,
        self_href=self_href,
    )


def collection_from_stac(doc: dict[str, Any]) -> Collection:
    """Build a :class:`Collection` from a STAC Collection dict."""
    extent = doc.get("extent") if isinstance(doc.get("extent"), dict) else {}
    spatial = (extent.get("spatial") or {}).get("bbox") if isinstance(extent.get("spatial"), dict) else None
    bbox = _bbox4(spatial[0]) if isinstance(spatial, list) and spatial else None
    temporal = None
    interval = (
        (extent.get("temporal") or {}).get("interval") if isinstance(extent.get("temporal"), dict) else None
    )
    if isinstance(interval, list) and interval and isinstance(interval[0], list) and len(interval[0]) == 2:
        temporal = (interval[0][0], interval[0][1])
    return Collection(
        id=str(doc.get("id")),
        title=doc.get("title"),
        description=doc.get("description"),
        license=doc.get("license"),
        extent_bbox=bbox,
        temporal=temporal,
    )


def collection_attribution(doc: dict[str, Any]) -> Optional[str]:
    providers = doc.get("providers")
    if isinstance(providers, list):
        names = [str(p.get("name")) for p in providers if isinstance(p, dict) and p.get("name")]
        if names:
            return ", ".join(names)
    return None


# -- datetime handling ----------------------------------------------------------------------


def parse_datetime(text: Optional[str], end: bool = False) -> Optional[datetime]:
    """Parse an ISO date or datetime (UTC if naive); a bare date means its start, or its end if ``end``."""
    if not text:
        return None
    text = str(text).strip()
    if text in ("..", ""):
        return None
    try:
        if re.fullmatch(r"\d{4}", text):
            d = datetime(int(text), 12 if end else 1, 31 if end else 1, tzinfo=timezone.utc)
        elif re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            d = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
        else:
            d = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=timezone.utc)
            return d
    except ValueError as exc:
        raise UserInputError(
            tr("'{text}' is not a valid date: use the form YYYY-MM-DD (for example 2024-06-30).").format(
                text=text
            )
        ) from exc
    if end:
        d = d.replace(hour=23, minute=59, second=59)
    return d


def iso_z(d: datetime) -> str:
    return d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def datetime_interval(query: SearchQuery) -> Optional[str]:
    """STAC API ``datetime`` parameter for the query (``start/end`` with ``..`` for open ends)."""
    start = parse_datetime(query.datetime_start)
    end = parse_datetime(query.datetime_end, end=True)
    if start is None and end is None:
        return None
    return f"{iso_z(start) if start else '..'}/{iso_z(end) if end else '..'}"


# -- local filters ------------------------------------------------------------------------------


def bbox_intersects(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _item_interval(item: Item) -> tuple[Optional[datetime], Optional[datetime]]:
    props = item.properties
    start = props.get("start_datetime") or item.datetime
    end = props.get("end_datetime") or item.datetime
    try:
        return parse_datetime(start), parse_datetime(end, end=True)
    except UserInputError:
        return None, None


def matches(item: Item, query: SearchQuery, *, check_gsd: bool = True) -> bool:
    """True when ``item`` passes the query's bbox, date, collection and GSD filters.

    Items without a date are left out only when a date range is set; items with an unknown
    GSD are kept (the GSD filter cannot judge them).
    """
    if query.collections and item.collection not in query.collections:
        return False
    if query.bbox is not None and item.bbox is not None and not bbox_intersects(item.bbox, query.bbox):
        return False
    if query.datetime_start or query.datetime_end:
        qs = parse_datetime(query.datetime_start)
        qe = parse_datetime(query.datetime_end, end=True)
        s, e = _item_interval(item)
        if s is None and e is None:
            return False
        if qs is not None and (e or s) < qs:
            return False
        if qe is not None and (s or e) > qe:
            return False
    if check_gsd and query.max_gsd is not None and item.gsd is not None and item.gsd > query.max_gsd + 1e-9:
        return False
    return True


def dedupe(items: Iterable[Item]) -> Iterable[Item]:
    """Yield items once per (collection, id)."""
    seen: set[tuple[Optional[str], str]] = set()
    for it in items:
        key = (it.collection, it.id)
        if key in seen:
            continue
        seen.add(key)
        yield it


def select(items: Iterable[Item], query: SearchQuery) -> Iterator[Item]:
    """Deduplicated items matching ``query``, stopping at ``query.limit`` (every source ends with this)."""
    if query.limit <= 0:
        return
    count = 0
    for item in dedupe(items):
        if not matches(item, query):
            continue
        yield item
        count += 1
        if count >= query.limit:
            return
