"""OGC WMTS 1.0.0 GetCapabilities -> catalog items (one per layer), and a WMTS catalog source."""

from __future__ import annotations

import logging
import math
import re

# xml.etree is safe here: documents with a DOCTYPE/ENTITY are refused before parsing
import xml.etree.ElementTree as ET  # noqa: S405  # nosec B405
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import Cancelled, NetworkError, UserInputError
from ..http import HttpClient, default_client
from ..i18n import tr
from .model import CancelCheck, Collection, Item, SearchQuery, SourceConfig, WmtsLayerRef
from .stac_item import bbox_polygon, matches, parse_epsg

try:  # pragma: no cover - optional hardening when available
    from defusedxml.ElementTree import fromstring as _safe_fromstring  # type: ignore
except ImportError:  # pragma: no cover
    _safe_fromstring = None

LOG = logging.getLogger("idf_hr.catalog")

NS = {"wmts": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}
PIXEL_SIZE_M = 0.00028  # OGC standardized rendering pixel size
LAMBERT93_EPSG = 2154
WEB_MERCATOR_EPSG = 3857
_YEAR_RE = re.compile(r"(?<!\d)((?:19|20)\d\d)(?:-((?:19|20)\d\d))?(?!\d)")


@dataclass
class TileMatrixSetInfo:
    """A tile matrix set of the capabilities: identifier, CRS and scale of each matrix."""

    identifier: str
    crs: str  # as written in the document
    epsg: Optional[int]
    scales: dict[str, float] = field(default_factory=dict)  # matrix id -> scale denominator

    @property
    def is_lambert93(self) -> bool:
        ident = self.identifier.upper()
        return self.epsg == LAMBERT93_EPSG or ident.startswith("LAMB93") or ident.startswith("2154")

    @property
    def is_web_mercator(self) -> bool:
        ident = self.identifier.upper()
        return self.epsg in (WEB_MERCATOR_EPSG, 900913) or ident == "PM" or ident.startswith("PM_")


@dataclass
class WmtsLayerInfo:
    """One ``Layer`` of the capabilities."""

    identifier: str
    title: Optional[str] = None
    abstract: Optional[str] = None
    wgs84_bbox: Optional[tuple[float, float, float, float]] = None
    formats: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)  # default style first
    tile_matrix_sets: list[str] = field(default_factory=list)
    limits: dict[str, set[str]] = field(default_factory=dict)  # TMS id -> available matrix ids


@dataclass
class WmtsCapabilities:
    """The parsed document."""

    url: str
    title: Optional[str]
    provider: Optional[str]
    access_constraints: Optional[str]
    layers: list[WmtsLayerInfo]
    tile_matrix_sets: dict[str, TileMatrixSetInfo]


def _text(el: Optional[ET.Element], path: str) -> Optional[str]:
    if el is None:
        return None
    found = el.find(path, NS)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


def _corner(text: Optional[str]) -> Optional[tuple[float, float]]:
    if not text:
        return None
    try:
        parts = [float(v) for v in text.split()]
    except ValueError:
        return None
    return (parts[0], parts[1]) if len(parts) >= 2 else None


def parse_capabilities(data: bytes, url: str) -> WmtsCapabilities:
    """Parse a WMTS 1.0.0 GetCapabilities document; raise :class:`NetworkError` if unusable.

    Documents with a DOCTYPE are refused (protection against entity-expansion attacks).
    """
    host = urlsplit(url).netloc or url
    lowered = data.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise NetworkError(
            tr(
                "The WMTS capabilities from {host} contain a DOCTYPE/ENTITY declaration, which "
                "IdF HR refuses for safety. Check that the address points to a WMTS service."
            ).format(host=host),
            url=url,
        )
    try:
        root = _safe_fromstring(data) if _safe_fromstring else ET.fromstring(data)  # noqa: S314  # nosec B314
    except ET.ParseError as exc:
        raise NetworkError(
            tr(
                "The server at {host} did not send valid WMTS capabilities (invalid XML: {error}). "
                "Check that the address points to a WMTS service."
            ).format(host=host, error=exc),
            url=url,
        ) from exc
    tag = root.tag.split("}")[-1]
    if tag == "ExceptionReport":
        detail = " ".join(t.strip() for t in root.itertext() if t.strip())
        raise NetworkError(
            tr("The WMTS service at {host} answered with an error: {detail}").format(
                host=host, detail=detail
            ),
            url=url,
        )
    if tag != "Capabilities":
        raise NetworkError(
            tr(
                "The document from {host} is not WMTS capabilities (root element {tag}). Check that "
                "the address points to a WMTS GetCapabilities."
            ).format(host=host, tag=tag),
            url=url,
        )
    contents = root.find("wmts:Contents", NS)
    tmss: dict[str, TileMatrixSetInfo] = {}
    layers: list[WmtsLayerInfo] = []
    if contents is not None:
        for tms_el in contents.findall("wmts:TileMatrixSet", NS):
            ident = _text(tms_el, "ows:Identifier")
            if not ident:
                continue
            crs = _text(tms_el, "ows:SupportedCRS") or ""
            scales: dict[str, float] = {}
            for tm in tms_el.findall("wmts:TileMatrix", NS):
                tm_id = _text(tm, "ows:Identifier")
                sd = _text(tm, "wmts:ScaleDenominator")
                if tm_id is None or sd is None:
                    continue
                try:
                    scales[tm_id] = float(sd)
                except ValueError:
                    continue
            tmss[ident] = TileMatrixSetInfo(ident, crs, parse_epsg(crs), scales)
        for lay in contents.findall("wmts:Layer", NS):
            ident = _text(lay, "ows:Identifier")
            if not ident:
                continue
            bbox = None
            wbb = lay.find("ows:WGS84BoundingBox", NS)
            if wbb is not None:
                lo = _corner(_text(wbb, "ows:LowerCorner"))
                hi = _corner(_text(wbb, "ows:UpperCorner"))
                if lo and hi:
                    bbox = (lo[0], lo[1], hi[0], hi[1])
            styles: list[str] = []
            for st in lay.findall("wmts:Style", NS):
                sid = _text(st, "ows:Identifier")
                if sid:
                    if st.get("isDefault", "").lower() == "true":
                        styles.insert(0, sid)
                    else:
                        styles.append(sid)
            formats = [f.text.strip() for f in lay.findall("wmts:Format", NS) if f.text and f.text.strip()]
            links: list[str] = []
            limits: dict[str, set[str]] = {}
            for link in lay.findall("wmts:TileMatrixSetLink", NS):
                tms_id = _text(link, "wmts:TileMatrixSet")
                if not tms_id:
                    continue
                links.append(tms_id)
                ids = {
                    t
                    for t in (
                        _text(lim, "wmts:TileMatrix")
                        for lim in link.findall("wmts:TileMatrixSetLimits/wmts:TileMatrixLimits", NS)
                    )
                    if t
                }
                if ids:
                    limits[tms_id] = ids
            layers.append(
                WmtsLayerInfo(
                    identifier=ident,
                    title=_text(lay, "ows:Title"),
                    abstract=_text(lay, "ows:Abstract"),
                    wgs84_bbox=bbox,
                    formats=formats,
                    styles=styles,
                    tile_matrix_sets=links,
                    limits=limits,
                )
            )
    access = _text(root, "ows:ServiceIdentification/ows:AccessConstraints")
    if access and access.strip().lower() in ("none", "aucune"):
        access = None
    return WmtsCapabilities(
        url=url,
        title=_text(root, "ows:ServiceIdentification/ows:Title"),
        provider=_text(root, "ows:ServiceProvider/ows:ProviderName"),
        access_constraints=access,
        layers=layers,
        tile_matrix_sets=tmss,
    )


def finest_scale(layer: WmtsLayerInfo, tms: TileMatrixSetInfo) -> Optional[float]:
    """Smallest scale denominator of ``tms`` among the matrices the layer offers."""
    allowed = layer.limits.get(tms.identifier)
    scales = [s for tm, s in tms.scales.items() if not allowed or tm in allowed]
    return min(scales) if scales else None


def choose_tile_matrix_set(
    layer: WmtsLayerInfo, tmss: dict[str, TileMatrixSetInfo]
) -> Optional[TileMatrixSetInfo]:
    """The TMS to open the layer in: Lambert-93 when linked, else Web Mercator (PM), else the first."""
    linked = [tmss[t] for t in layer.tile_matrix_sets if t in tmss]
    if not linked:
        return None

    def best(cands: list[TileMatrixSetInfo]) -> TileMatrixSetInfo:
        return min(cands, key=lambda t: finest_scale(layer, t) or math.inf)

    for pred in (lambda t: t.is_lambert93, lambda t: t.is_web_mercator):
        cands = [t for t in linked if pred(t)]
        if cands:
            return best(cands)
    return linked[0]


def year_range(identifier: str) -> Optional[tuple[int, int]]:
    """Years encoded in a layer identifier (``ORTHOPHOTOS2021`` -> (2021, 2021), ``2000-2005``)."""
    found = list(_YEAR_RE.finditer(identifier))
    if not found:
        return None
    m = found[-1]
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else start
    return (start, max(start, end))


def estimate_gsd(layer: WmtsLayerInfo, tms: TileMatrixSetInfo) -> Optional[float]:
    """Ground sampling distance (m) of the finest matrix: scale × 0.28 mm.

    In Web Mercator the nominal pixel is shrunk by cos(latitude) at the layer's centre, which
    gives the true ground size (e.g. level 19 is 0.30 m nominal, 0.20 m at Paris).
    """
    scale = finest_scale(layer, tms)
    if scale is None:
        return None
    gsd = scale * PIXEL_SIZE_M
    if tms.is_web_mercator and layer.wgs84_bbox is not None:
        lat = (layer.wgs84_bbox[1] + layer.wgs84_bbox[3]) / 2.0
        gsd *= max(0.01, math.cos(math.radians(max(-85.0, min(85.0, lat)))))
    return round(gsd, 4)


def _pick_format(formats: list[str]) -> str:
    for pref in ("image/jpeg", "image/png"):
        if pref in formats:
            return pref
    return formats[0] if formats else "image/jpeg"


def layer_to_item(
    layer: WmtsLayerInfo,
    caps: WmtsCapabilities,
    source_id: str,
    capabilities_url: str,
    attribution: Optional[str] = None,
    license: Optional[str] = None,
) -> Optional[Item]:
    """An :class:`Item` for one layer (``None`` when no linked tile matrix set is described)."""
    tms = choose_tile_matrix_set(layer, caps.tile_matrix_sets)
    if tms is None:
        LOG.info("WMTS layer %s has no usable tile matrix set; skipped", layer.identifier)
        return None
    years = year_range(layer.identifier)
    props: dict = {
        "description": layer.abstract,
        "wmts:formats": layer.formats,
        "wmts:styles": layer.styles,
        "wmts:tile_matrix_sets": layer.tile_matrix_sets,
        "wmts:finest_scale": finest_scale(layer, tms),
    }
    dt = None
    if years:
        dt = f"{years[0]:04d}-01-01T00:00:00Z"
        props["start_datetime"] = dt
        props["end_datetime"] = f"{years[1]:04d}-12-31T23:59:59Z"
    crs = f"EPSG:{tms.epsg}" if tms.epsg else tms.crs
    return Item(
        id=layer.identifier,
        source_id=source_id,
        collection=layer.identifier,
        datetime=dt,
        bbox=layer.wgs84_bbox,
        geometry=bbox_polygon(layer.wgs84_bbox) if layer.wgs84_bbox else None,
        gsd=estimate_gsd(layer, tms),
        epsg=tms.epsg,
        title=layer.title or layer.identifier,
        license=license or caps.access_constraints,
        attribution=attribution or caps.provider,
        properties=props,
        wmts=WmtsLayerRef(
            capabilities_url=capabilities_url,
            layer=layer.identifier,
            tile_matrix_set=tms.identifier,
            image_format=_pick_format(layer.formats),
            style=layer.styles[0] if layer.styles else "default",
            crs=crs,
        ),
    )


def capabilities_url(url: str) -> str:
    """``url`` with ``SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0`` added when missing."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.path.lower().endswith(".xml"):
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    keys = {k.upper() for k, _ in query}
    if "REQUEST" not in keys:
        if "SERVICE" not in keys:
            query.append(("SERVICE", "WMTS"))
        query.append(("REQUEST", "GetCapabilities"))
        if "VERSION" not in keys:
            query.append(("VERSION", "1.0.0"))
    return urlunsplit(parts._replace(query=urlencode(query, safe=":/")))


LayerFilter = Callable[[str], bool]


class WmtsSource:
    """The layers of one WMTS service as catalog items (capabilities fetched once)."""

    def __init__(
        self,
        config: SourceConfig,
        client: Optional[HttpClient] = None,
        layer_filter: Optional[LayerFilter] = None,
        attribution: Optional[str] = None,
        license: Optional[str] = None,
    ) -> None:
        if not config.url.strip():
            raise UserInputError(
                tr(
                    "The WMTS source “{name}” has no URL. Set the address of its GetCapabilities in "
                    "the IdF HR settings (Catalog sources)."
                ).format(name=config.name)
            )
        self.config = config
        self.client = client or default_client()
        self.url = capabilities_url(config.url)
        self.layer_filter = layer_filter
        self.attribution = attribution
        self.license = license
        self._caps: Optional[WmtsCapabilities] = None

    def capabilities(self, cancel: Optional[CancelCheck] = None) -> WmtsCapabilities:
        """The parsed capabilities (downloaded on first use)."""
        if self._caps is None:
            resp = self.client.get(self.url, cancel=cancel)
            self._caps = parse_capabilities(resp.content, self.url)
        return self._caps

    def items(self, cancel: Optional[CancelCheck] = None) -> list[Item]:
        """One item per (filtered) layer."""
        caps = self.capabilities(cancel)
        out = []
        for layer in caps.layers:
            if self.layer_filter is not None and not self.layer_filter(layer.identifier):
                continue
            item = layer_to_item(layer, caps, self.config.id, self.url, self.attribution, self.license)
            if item is not None:
                out.append(item)
        return out

    def collections(self) -> list[Collection]:
        """One collection per layer (the collection filter selects layers)."""
        return [
            Collection(
                id=it.id,
                title=it.title,
                description=it.properties.get("description"),
                license=it.license,
                extent_bbox=it.bbox,
            )
            for it in self.items()
        ]

    def search(
        self, query: SearchQuery, cancel: Optional[CancelCheck] = None, text: Optional[str] = None
    ) -> Iterator[Item]:
        """Layers whose extent meets the bbox, whose vintage meets the date range, and whose
        identifier/title/abstract contains ``text``; undated layers are left out when dates are set."""
        items = self.items(cancel)
        needle = (text or "").strip().lower()
        count = 0
        for it in items:
            if cancel is not None and cancel():
                raise Cancelled(tr("Catalog search cancelled."))
            if not matches(it, query):
                continue
            if needle:
                hay = " ".join(filter(None, [it.id, it.title, it.properties.get("description")])).lower()
                if needle not in hay:
                    continue
            yield it
            count += 1
            if count >= query.limit:
                return
