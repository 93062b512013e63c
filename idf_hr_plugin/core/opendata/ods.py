"""Opendatasoft portals through the Explore API v2.1 (catalog search, preview, full GeoJSON export).

Endpoints used (``{base}/api/explore/v2.1``):
- ``/catalog/datasets`` → ``{"total_count", "results": [{"dataset_id", "features", "metas": {"default": …}, "fields"}]}``
- ``/catalog/datasets/{id}`` → one such dataset object
- ``/catalog/datasets/{id}/records`` → ``{"total_count", "results": [record…]}``; at most 100 per call
  and ``offset + limit <= 10000`` (HTTP 400 ``InvalidRESTParameterError`` beyond)
- ``/catalog/datasets/{id}/exports/geojson`` → every matching record as a FeatureCollection (no cap)

Filters are ODSQL: ``where`` is passed through; the map extent becomes
``in_bbox(<geo field>, lat1, lon1, lat2, lon2)`` (latitude first, as ODSQL expects).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlencode

from ..errors import Cancelled, NetworkError, UserInputError
from ..http import HttpClient, default_client
from ..i18n import tr
from ._util import atomic_path, geometry_problem, utc_now

API_PATH = "/api/explore/v2.1"
RECORDS_PAGE_MAX = 100
RECORDS_OFFSET_CAP = 10_000
GEO_TYPES = ("geo_shape", "geo_point_2d")

CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class PortalPreset:
    """A known Opendatasoft portal."""

    key: str
    name: str
    base_url: str
    verified: bool
    note: str = ""


PORTALS: dict[str, PortalPreset] = {
    "paris": PortalPreset(
        "paris",
        "Paris Data (Ville de Paris)",
        "https://opendata.paris.fr",
        True,
        "Explore API v2.1 confirmed, e.g. /api/explore/v2.1/catalog/datasets/les-arbres/records.",
    ),
    "mgp": PortalPreset(
        "mgp",
        "Métropole du Grand Paris",
        "https://data.metropolegrandparis.fr",
        False,
        "The MGP states it publishes on a dedicated Opendatasoft platform (biodiversity, urbanism, "
        "cultural sites, light pollution, geothermal); this domain could not be confirmed offline — "
        "change it in the settings if the portal answers elsewhere.",
    ),
}


@dataclass
class FieldInfo:
    name: str
    type: str
    label: str = ""


@dataclass
class DatasetInfo:
    """What the dock shows about a dataset before loading it."""

    id: str
    title: str
    description: str = ""
    themes: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    records_count: int | None = None
    license: str = ""
    license_url: str = ""
    modified: str = ""
    publisher: str = ""
    fields: list[FieldInfo] = field(default_factory=list)
    has_geo: bool = False
    geo_field: str | None = None
    portal_url: str = ""

    @property
    def page_url(self) -> str:
        return f"{self.portal_url}/explore/dataset/{self.id}/"


@dataclass
class ExportResult:
    """A dataset exported to a GeoJSON file on disk."""

    path: Path
    dataset_id: str
    feature_count: int
    retrieved_at: datetime
    license: str
    source_url: str
    title: str = ""
    geometry_types: list[str] = field(default_factory=list)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def parse_dataset(obj: dict[str, Any], portal_url: str = "") -> DatasetInfo:
    """Build a :class:`DatasetInfo` from a v2.1 catalog dataset object."""
    meta = (obj.get("metas") or {}).get("default") or {}
    fields = [
        FieldInfo(str(f.get("name")), str(f.get("type", "text")), str(f.get("label") or f.get("name")))
        for f in obj.get("fields") or []
    ]
    geo_field = None
    for wanted in GEO_TYPES:
        geo_field = next((f.name for f in fields if f.type == wanted), None)
        if geo_field:
            break
    features = _as_list(obj.get("features"))
    return DatasetInfo(
        id=str(obj.get("dataset_id")),
        title=str(meta.get("title") or obj.get("dataset_id")),
        description=str(meta.get("description") or ""),
        themes=_as_list(meta.get("theme")),
        keywords=_as_list(meta.get("keyword")),
        records_count=meta.get("records_count"),
        license=str(meta.get("license") or ""),
        license_url=str(meta.get("license_url") or ""),
        modified=str(meta.get("modified") or ""),
        publisher=str(meta.get("publisher") or ""),
        fields=fields,
        has_geo="geo" in features or geo_field is not None,
        geo_field=geo_field,
        portal_url=portal_url,
    )


def _odsql_string(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def bbox_clause(geo_field: str, bbox_wgs84: tuple[float, float, float, float]) -> str:
    """ODSQL ``in_bbox`` for a WGS84 box given as (west, south, east, north)."""
    west, south, east, north = (float(v) for v in bbox_wgs84)
    if not (west < east and south < north and -180 <= west and east <= 180 and -90 <= south and north <= 90):
        raise UserInputError(
            tr(
                "The extent {bbox} is not a valid longitude/latitude box (west, south, east, north). "
                "Zoom to the area of interest and try again."
            ).format(bbox=bbox_wgs84)
        )
    return f"in_bbox({geo_field}, {south!r}, {west!r}, {north!r}, {east!r})"


def _and(*clauses: str | None) -> str | None:
    parts = [c.strip() for c in clauses if c and c.strip()]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(f"({p})" for p in parts)


class OdsPortal:
    """Client of one Opendatasoft portal (``base_url`` like ``https://opendata.paris.fr``)."""

    def __init__(
        self, base_url: str, client: HttpClient | None = None, apikey_header: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or default_client()
        self.headers = {"Authorization": apikey_header} if apikey_header else {}

    # -- urls ---------------------------------------------------------------
    @property
    def api(self) -> str:
        return self.base_url + API_PATH

    def _dataset_url(self, dataset_id: str) -> str:
        return f"{self.api}/catalog/datasets/{quote(dataset_id, safe='')}"

    def export_url(self, dataset_id: str, where: str | None = None) -> str:
        """The GeoJSON export URL (what is recorded as the layer source)."""
        url = f"{self._dataset_url(dataset_id)}/exports/geojson"
        return url + ("?" + urlencode({"where": where}) if where else "")

    def _get_json(
        self, url: str, params: dict[str, Any] | None = None, cancel: CancelCheck | None = None
    ) -> Any:
        return self.client.get_json(url, params=params, headers=self.headers, cancel=cancel)

    # -- catalog --------------------------------------------------------------
    def search_datasets(
        self, text: str | None = None, theme: str | None = None, geo_only: bool = True, limit: int = 50
    ) -> list[DatasetInfo]:
        """Search the catalog (full text, theme, geographic datasets only)."""
        where = _and(
            f"search({_odsql_string(text)})" if text and text.strip() else None,
            'features = "geo"' if geo_only else None,
        )
        params: dict[str, Any] = {"limit": max(1, min(int(limit), RECORDS_PAGE_MAX)), "where": where}
        if theme:
            params["refine"] = f"theme:{theme}"
        data = self._get_json(f"{self.api}/catalog/datasets", params)
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise NetworkError(
                tr("{host} did not answer like an Opendatasoft Explore API v2.1 catalog.").format(
                    host=self.base_url
                ),
                url=self.api,
            )
        return [parse_dataset(r, self.base_url) for r in results]

    def dataset(self, dataset_id: str) -> DatasetInfo:
        """Metadata of one dataset (fields, record count, licence, last update)."""
        try:
            return parse_dataset(self._get_json(self._dataset_url(dataset_id)), self.base_url)
        except NetworkError as exc:
            if exc.status == 404:
                raise UserInputError(
                    tr(
                        "The dataset {id} does not exist on {portal} (it may have been renamed). "
                        "Search the catalog for its title."
                    ).format(id=dataset_id, portal=self.base_url)
                ) from exc
            raise

    def preview(self, dataset_id: str, n: int = 10) -> list[dict[str, Any]]:
        """The first ``n`` records (at most 100), as plain dicts."""
        data = self._get_json(
            f"{self._dataset_url(dataset_id)}/records", {"limit": max(1, min(int(n), RECORDS_PAGE_MAX))}
        )
        return list(data.get("results") or [])

    def records_paged(
        self,
        dataset_id: str,
        where: str | None = None,
        page_size: int = RECORDS_PAGE_MAX,
        cancel: CancelCheck | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Iterate records page by page through ``/records`` (capped by the portal at 10,000).

        Raises :class:`UserInputError` when more than 10,000 records match: use :meth:`export_geojson`.
        """
        page_size = max(1, min(int(page_size), RECORDS_PAGE_MAX))
        offset = 0
        total: int | None = None
        url = f"{self._dataset_url(dataset_id)}/records"
        while total is None or offset < total:
            if offset + page_size > RECORDS_OFFSET_CAP:
                page_size = RECORDS_OFFSET_CAP - offset
                if page_size <= 0:
                    raise self._cap_error(dataset_id, total)
            resp = self.client.get(
                url,
                params={"limit": page_size, "offset": offset, "where": where},
                headers=self.headers,
                accept_status=(400,),
                cancel=cancel,
            )
            if resp.status == 400:
                body = _safe_json(resp.content)
                body = body if isinstance(body, dict) else {}
                if "offset" in str(body.get("message", "")).lower():
                    raise self._cap_error(dataset_id, total)
                raise UserInputError(
                    tr("{portal} refused the query on {id}: {message}").format(
                        portal=self.base_url, id=dataset_id, message=body.get("message", resp.text[:200])
                    )
                )
            data = resp.json()
            total = int(data.get("total_count") or 0)
            results = data.get("results") or []
            yield from results
            if not results:
                return
            offset += len(results)

    def _cap_error(self, dataset_id: str, total: int | None) -> UserInputError:
        return UserInputError(
            tr(
                "The dataset {id} has {total} matching records, but the Opendatasoft records API stops "
                "at 10,000. Load it through the GeoJSON export instead (the default in IdF HR), which "
                "has no limit."
            ).format(id=dataset_id, total=total if total is not None else "more than 10,000")
        )

    # -- export ---------------------------------------------------------------
    def export_geojson(
        self,
        dataset_id: str,
        dest: str | os.PathLike[str],
        where: str | None = None,
        bbox_wgs84: tuple[float, float, float, float] | None = None,
        cancel: CancelCheck | None = None,
        info: DatasetInfo | None = None,
        allow_empty: bool = False,
    ) -> ExportResult:
        """Export ALL matching records to ``dest`` as GeoJSON (via ``/exports/geojson``, no 10,000 cap).

        ``where`` is an ODSQL clause passed through; ``bbox_wgs84`` (west, south, east, north) adds an
        ``in_bbox`` filter on the dataset's geo field. The body is validated before ``dest`` appears:
        a malformed geometry or an empty result raises and nothing is written.
        """
        info = info or self.dataset(dataset_id)
        bbox_where = None
        if bbox_wgs84 is not None:
            if not info.geo_field:
                raise UserInputError(
                    tr(
                        "The dataset {id} has no geographic field, so it cannot be filtered by the map extent."
                    ).format(id=dataset_id)
                )
            bbox_where = bbox_clause(info.geo_field, bbox_wgs84)
        full_where = _and(where, bbox_where)
        url = self.export_url(dataset_id)
        try:
            resp = self.client.get(url, params={"where": full_where}, headers=self.headers, cancel=cancel)
        except NetworkError as exc:
            if exc.status == 400:  # the portal's own words say which part of the filter is wrong
                raise UserInputError(
                    tr(
                        "{portal} refused the query on {id}: {message} Check the where clause (ODSQL "
                        "syntax, field names of the dataset, quotes around text values)."
                    ).format(
                        portal=self.base_url,
                        id=dataset_id,
                        message=_sentence(getattr(exc, "server_message", "") or tr("HTTP 400, no details")),
                    )
                ) from exc
            raise
        if cancel is not None and cancel():
            raise Cancelled()
        fc = _safe_json(resp.content, strict=False)
        if (
            not isinstance(fc, dict)
            or fc.get("type") != "FeatureCollection"
            or not isinstance(fc.get("features"), list)
        ):
            raise NetworkError(
                tr(
                    "{portal} did not send a GeoJSON FeatureCollection for the dataset {id}. "
                    "Try again later or check the portal address."
                ).format(portal=self.base_url, id=dataset_id),
                url=url,
            )
        features = fc["features"]
        gtypes: set[str] = set()
        for i, feat in enumerate(features):
            geom = feat.get("geometry") if isinstance(feat, dict) else "not a feature"
            problem = geometry_problem(geom)
            if problem:
                raise NetworkError(
                    tr(
                        "The dataset {id} from {portal} contains a malformed geometry (feature {n}: "
                        "{problem}). Nothing was loaded; report it to the data producer or filter it out "
                        "with a where clause."
                    ).format(id=dataset_id, portal=self.base_url, n=i + 1, problem=problem),
                    url=url,
                )
            if geom:
                gtypes.add(geom["type"])
        if not features and not allow_empty:
            raise UserInputError(
                tr(
                    "The dataset {id} returned no records{filtered}. Nothing was loaded; widen the "
                    "filter or the map extent."
                ).format(id=dataset_id, filtered=tr(" for this filter") if full_where else "")
            )
        with atomic_path(dest) as tmp:
            tmp.write_bytes(resp.content)
        return ExportResult(
            path=Path(dest),
            dataset_id=dataset_id,
            feature_count=len(features),
            retrieved_at=utc_now(),
            license=info.license,
            source_url=url + ("?" + urlencode({"where": full_where}) if full_where else ""),
            title=info.title,
            geometry_types=sorted(gtypes),
        )


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?", "…")) else text + "."


def _safe_json(content: bytes, strict: bool = True) -> Any:
    try:
        return json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {} if strict else None
