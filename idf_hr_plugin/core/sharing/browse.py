"""Browse shared results: the runs of a results catalog (static STAC or STAC API) or of a PostGIS
store, filtered.

Both sources give :class:`SharedRun` records; :class:`ResultFilter` keeps those matching an
extent (lon/lat), a date range (imagery vintage), a model, a class and a partner.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..errors import UserInputError
from ..i18n import tr
from ..mlm.fields import NS
from .postgis import RUNS_TABLE, check_schema, read_cursor


@dataclass
class SharedRun:
    """One published run, from a results catalog (``source`` = ``stac``) or PostGIS (``postgis``)."""

    partner: str
    run_id: str
    kind: str
    layer: str
    model: str = ""
    model_sha256: str = ""
    model_item: str = ""
    start: str = ""  # ISO datetimes of the imagery vintage(s)
    end: str = ""
    bbox: Optional[tuple] = None  # lon/lat
    counts: dict = field(default_factory=dict)
    features: int = 0
    cost: dict = field(default_factory=dict)
    source: str = "stac"
    item_href: str = ""
    objects_href: str = ""  # GeoPackage asset (STAC)
    report_href: str = ""
    title: str = ""
    missing: str = ""  # what an item written by another tool does not say (one sentence), or ""

    @property
    def classes(self) -> list:
        return sorted(self.counts)

    def label(self) -> str:
        """One line for a list: partner, kind, model, date, features."""
        when = (self.start or "")[:10]
        if self.end and self.end[:10] != when:
            when += "…" + self.end[:10]
        text = tr("{partner} — {kind} — {model} — {when} — {n} objects").format(
            partner=self.partner or "?",
            kind=self.kind or "?",
            model=self.model or "?",
            when=when or "?",
            n=self.features if not self.missing else (self.features or "?"),
        )
        return f"{text} — {self.missing}" if self.missing else text


def _date(text: Optional[str]) -> Optional[_dt.date]:
    if not text:
        return None
    try:
        return _dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


@dataclass
class ResultFilter:
    """What to keep; every criterion left empty keeps everything."""

    bbox: Optional[tuple] = None  # lon/lat: xmin, ymin, xmax, ymax
    start: str = ""  # YYYY-MM-DD: imagery not older than
    end: str = ""  # YYYY-MM-DD: imagery not newer than
    model: str = ""  # substring of the model name, or its sha256
    class_name: str = ""  # a class present in the counts
    partner: str = ""

    def matches(self, run: SharedRun) -> bool:
        if self.partner and run.partner.casefold() != self.partner.strip().casefold():
            return False
        if self.model:
            m = self.model.strip().casefold()
            if m not in run.model.casefold() and m != run.model_sha256.casefold():
                return False
        if self.class_name:
            c = self.class_name.strip().casefold()
            if not any(c == k.casefold() or k.casefold().startswith(c + ":") for k in run.counts):
                return False
        if self.bbox is not None:
            if run.bbox is None:
                return False
            a, b = self.bbox, run.bbox
            if a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1]:
                return False
        start, end = _date(self.start), _date(self.end)
        rs, re_ = _date(run.start), _date(run.end or run.start)
        if start and (re_ is None or re_ < start):
            return False
        if end and (rs is None or rs > end):
            return False
        return True


VECTOR_TYPES = (
    "geopackage",
    "geo+json",
    "geojson",
    "flatgeobuf",
    "parquet",
    "x-shapefile",
    "vnd.google-earth",
)
VECTOR_SUFFIXES = (".gpkg", ".geojson", ".json", ".fgb", ".parquet", ".shp", ".zip", ".kml")


def _vector_asset(assets: dict) -> str:
    """Key of the data asset holding vector objects (``objects`` first), "" when there is none."""
    if isinstance(assets.get("objects"), dict):
        return "objects"
    for key, a in assets.items():
        if not isinstance(a, dict) or not a.get("href"):
            continue
        mt = str(a.get("type") or "").lower()
        href = str(a["href"]).lower().split("?")[0]
        if any(t in mt for t in VECTOR_TYPES) or (not mt and href.endswith(VECTOR_SUFFIXES)):
            return str(key)
    return ""


def run_from_item(doc: dict, href: str = "") -> Optional[SharedRun]:
    """A :class:`SharedRun` from a results STAC item, None for another kind of item (imagery, model).

    An item written by another tool (no ``idfhr:`` run properties) but holding a vector data asset
    is listed with what it says, and :attr:`SharedRun.missing` names what it does not.
    """
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else {}
    assets = doc.get("assets") if isinstance(doc.get("assets"), dict) else {}
    ours = bool(props.get(NS + "run_id") and props.get(NS + "partner"))
    objects_key = "objects" if ours else _vector_asset(assets)
    if not ours and (not objects_key or any(str(k).startswith("mlm:") for k in props)):
        return None
    from ..catalog.hrefs import resolve_href

    def asset(key: str) -> str:
        a = assets.get(key)
        if not isinstance(a, dict) or not a.get("href"):
            return ""
        try:
            return resolve_href(str(a["href"]), href, href) if href else str(a["href"])
        except UserInputError:
            return ""

    model = props.get(NS + "model") if isinstance(props.get(NS + "model"), dict) else {}
    bbox = doc.get("bbox")
    try:
        bbox = tuple(float(v) for v in bbox[:4]) if isinstance(bbox, list) and len(bbox) >= 4 else None
    except (TypeError, ValueError):
        bbox = None
    counts = props.get(NS + "counts")
    try:
        features = int(props.get(NS + "features") or 0)
    except (TypeError, ValueError):
        features = 0
    run = SharedRun(
        partner=str(props.get(NS + "partner") or ""),
        run_id=str(props.get(NS + "run_id") or doc.get("id") or ""),
        kind=str(props.get(NS + "kind") or ""),
        layer=str(props.get(NS + "layer") or ""),
        model=str(model.get("name") or ""),
        model_sha256=str(model.get("sha256") or ""),
        model_item=str(model.get("item") or ""),
        start=str(props.get("start_datetime") or props.get("datetime") or ""),
        end=str(props.get("end_datetime") or props.get("datetime") or ""),
        bbox=bbox,
        counts=dict(counts) if isinstance(counts, dict) else {},
        features=features,
        cost=dict(props.get(NS + "run") or {}) if isinstance(props.get(NS + "run"), dict) else {},
        source="stac",
        item_href=href,
        objects_href=asset(objects_key),
        report_href=asset("report"),
        title=str(props.get("title") or ""),
    )
    if not ours:
        unknown = [
            name
            for name, known in (
                (tr("partner"), run.partner),
                (tr("model"), run.model),
                (tr("counts per class"), run.counts),
                (tr("imagery date"), run.start),
                (tr("extent"), run.bbox),
            )
            if not known
        ]
        run.missing = tr(
            "Not published by IdF HR: the item {id} has no idfhr: run properties ({what} unknown); "
            "check its provenance with whoever published it before relying on it."
        ).format(id=doc.get("id") or "?", what=", ".join(unknown) or tr("run details"))
    return run


def runs_from_catalog(
    location: str,
    *,
    client=None,
    cancel: Optional[Callable[[], bool]] = None,
    warnings: Optional[list] = None,
) -> list:
    """Every run of a static results catalog (a folder, a ``catalog.json`` path or URL)."""
    from pathlib import Path

    from ..catalog.hrefs import is_remote
    from ..catalog.model import SourceConfig
    from ..catalog.stac_static import StaticStacSource

    loc = str(location or "").strip()
    if loc and not is_remote(loc) and Path(loc).is_dir():
        loc = str(Path(loc) / "catalog.json")
    config = SourceConfig(id="results", name=loc, kind="stac-static", url=loc)
    static = StaticStacSource(config, client)
    out = []
    for kind, doc, node in static._walk(cancel, want_items=True):
        if kind == "item":
            run = run_from_item(doc, node.href)
            if run is not None:
                out.append(run)
    if warnings is not None:
        warnings.extend(static.warnings)
    return out


def runs_from_api(
    api_url: str,
    collection: str = "",
    *,
    client=None,
    cancel: Optional[Callable[[], bool]] = None,
    warnings: Optional[list] = None,
) -> list:
    """Every run of a STAC API: the items of ``collection`` (``/collections/{id}/items``), or of the
    whole API (``/search``) when no collection is given, page after page."""
    from urllib.parse import quote

    from ..catalog.stac_api import _features, _next_get_href
    from ..errors import Cancelled
    from ..http import default_client
    from .stac_api import _base, check_collection_id

    client = client or default_client()
    base = _base(api_url)
    if collection:
        url = f"{base}/collections/{quote(check_collection_id(collection), safe='')}/items"
    else:
        url = base + "/search"
    url += "?limit=100"
    out, seen = [], set()
    while url and url not in seen:
        if cancel is not None and cancel():
            raise Cancelled()
        seen.add(url)
        page = client.get_json(url, cancel=cancel)
        for doc in _features(page, url):
            self_href = next(
                (
                    str(lk["href"])
                    for lk in doc.get("links") or []
                    if isinstance(lk, dict) and lk.get("rel") == "self"
                ),
                url,
            )
            run = run_from_item(doc, self_href)
            if run is not None:
                out.append(run)
        url = _next_get_href(page, url)
    if url and warnings is not None:
        warnings.append(
            tr(
                "The STAC API at {url} repeats a page link: the list stops there and more runs may exist."
            ).format(url=base)
        )
    return out


def runs_from_postgis(dsn: str, *, schema: str = "public", flt: Optional[ResultFilter] = None) -> list:
    """The runs of a PostGIS store (the extent and partner filters are applied by the database)."""
    schema = check_schema(schema)
    where, args = ["true"], []
    if flt is not None and flt.bbox is not None:
        where.append("area && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
        args += [float(v) for v in flt.bbox]
    if flt is not None and flt.partner:
        where.append("lower(partner) = lower(%s)")
        args.append(flt.partner.strip())
    from psycopg2 import sql as q

    sql = q.SQL(
        "SELECT partner, run_id, kind, layer, coalesce(model, ''), coalesce(model_sha256, ''), "
        "coalesce(model_item, ''), start_datetime, end_datetime, ST_XMin(area), ST_YMin(area), ST_XMax(area), "
        "ST_YMax(area), counts, features, cost FROM {} WHERE {} ORDER BY start_datetime, partner, run_id"
    ).format(q.Identifier(schema, RUNS_TABLE), q.SQL(" AND ".join(where)))
    with read_cursor(dsn) as cur:
        cur.execute("SELECT to_regclass(%s)", (f"{schema}.{RUNS_TABLE}",))
        if cur.fetchone()[0] is None:
            return []
        cur.execute(sql, args)
        rows = cur.fetchall()

    def iso(d) -> str:
        return d.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if d is not None else ""

    out = [
        SharedRun(
            partner=r[0],
            run_id=r[1],
            kind=r[2],
            layer=r[3],
            model=r[4],
            model_sha256=r[5],
            model_item=r[6],
            start=iso(r[7]),
            end=iso(r[8]),
            bbox=(r[9], r[10], r[11], r[12]) if r[9] is not None else None,
            counts=dict(r[13] or {}),
            features=int(r[14] or 0),
            cost=dict(r[15] or {}),
            source="postgis",
        )
        for r in rows
    ]
    return [r for r in out if flt is None or flt.matches(r)]


def filter_runs(runs: list, flt: ResultFilter) -> list:
    """The runs ``flt`` keeps, in their order."""
    return [r for r in runs if flt.matches(r)]
