"""Build catalog sources from their settings, list the default ones, search several at once."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable, Optional
from urllib.parse import urlsplit

from ..errors import Cancelled, IdfHrError, UserInputError
from ..http import HttpClient
from ..i18n import tr
from .model import SOURCE_KINDS, CancelCheck, CatalogSource, Item, SearchQuery, SourceConfig
from .presets import (
    DEMO_NAME,
    DEMO_SOURCE_ID,
    IGN_ATTRIBUTION,
    IGN_HOST,
    IGN_LICENSE,
    IGN_SOURCE_ID,
    IGN_WMTS_URL,
    REGIONAL_THR_NAME,
    REGIONAL_THR_SOURCE_ID,
    is_ign_ortho_layer,
)
from .stac_api import StacApiSource
from .stac_item import parse_datetime
from .stac_static import StaticStacSource
from .wmts import WmtsSource

LOG = logging.getLogger("idf_hr.catalog")


def _demo_catalog_path() -> str:
    from idf_hr_plugin.demo import ensure_demo_region  # lazy: generating the region is heavy

    return str(ensure_demo_region().catalog_path)


def make_source(config: SourceConfig, client: Optional[HttpClient] = None) -> CatalogSource:
    """The :class:`CatalogSource` for a configured source; raises :class:`UserInputError` if unusable.

    The demo source is generated lazily, on its first search.
    """
    kind = config.kind
    if kind not in SOURCE_KINDS:
        raise UserInputError(
            tr("The catalog source “{name}” has an unknown kind '{kind}'. Choose one of: {kinds}.").format(
                name=config.name, kind=kind, kinds=", ".join(SOURCE_KINDS)
            )
        )
    if kind == "demo":
        return StaticStacSource(config, client, location=_demo_catalog_path)
    if not config.url.strip():
        raise UserInputError(
            tr(
                "The catalog source “{name}” has no URL yet. Open the IdF HR settings (Catalog "
                "sources), enter its address and enable it."
            ).format(name=config.name)
        )
    if kind == "stac-api":
        return StacApiSource(config, client)
    if kind == "stac-static":
        return StaticStacSource(config, client)
    host = urlsplit(config.url.strip()).netloc.lower()
    if config.id == IGN_SOURCE_ID or host == IGN_HOST:
        return WmtsSource(
            config, client, layer_filter=is_ign_ortho_layer, attribution=IGN_ATTRIBUTION, license=IGN_LICENSE
        )
    return WmtsSource(config, client)


def default_sources() -> list[SourceConfig]:
    """Sources shipped with the plugin: demo, IGN Géoplateforme WMTS, regional THR STAC (URL to set)."""
    return [
        SourceConfig(id=DEMO_SOURCE_ID, name=DEMO_NAME, kind="demo"),
        SourceConfig(
            id=IGN_SOURCE_ID,
            name="IGN Géoplateforme – orthophotos (WMTS)",
            kind="wmts",
            url=IGN_WMTS_URL,
        ),
        SourceConfig(
            id=REGIONAL_THR_SOURCE_ID, name=REGIONAL_THR_NAME, kind="stac-api", url="", enabled=False
        ),
    ]


def validate_query(query: SearchQuery) -> None:
    """Refuse a search that cannot be meant before anything is sent (one sentence saying what to fix)."""
    if query.bbox is not None:
        try:
            w, s, e, n = (float(v) for v in query.bbox)
        except (TypeError, ValueError):
            raise UserInputError(
                tr("The search extent must be four numbers: west, south, east, north (WGS84 degrees).")
            ) from None
        if not all(math.isfinite(v) for v in (w, s, e, n)):
            raise UserInputError(tr("The search extent has a value that is not a number."))
        if w > e or s > n:
            raise UserInputError(
                tr(
                    "The search extent {w},{s},{e},{n} is inverted (west is east of east, or south north of "
                    "north): give it as west,south,east,north."
                ).format(w=w, s=s, e=e, n=n)
            )
        if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
            raise UserInputError(
                tr(
                    "The search extent {w},{s},{e},{n} is outside longitude -180..180 / latitude -90..90: "
                    "give it in WGS84 degrees (west,south,east,north)."
                ).format(w=w, s=s, e=e, n=n)
            )
    start = parse_datetime(query.datetime_start)
    end = parse_datetime(query.datetime_end, end=True)
    if start is not None and end is not None and start > end:
        raise UserInputError(
            tr("The start date {start} is after the end date {end}: swap them or correct one.").format(
                start=query.datetime_start, end=query.datetime_end
            )
        )
    if query.max_gsd is not None and not (math.isfinite(query.max_gsd) and query.max_gsd > 0):
        raise UserInputError(
            tr(
                "The maximum ground sample distance must be a positive number of metres (e.g. 0.2), "
                "not {gsd}; leave it empty for any resolution."
            ).format(gsd=query.max_gsd)
        )
    if query.limit < 1 or query.page_size < 1:
        raise UserInputError(
            tr("The maximum number of results must be at least 1 (got {n}).").format(
                n=min(query.limit, query.page_size)
            )
        )


@dataclass
class SearchOutcome:
    """The items of one source, with its warnings and whether its results were cut short."""

    items: list[Item]
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False


def run_search(
    source: CatalogSource,
    query: SearchQuery,
    cancel: Optional[CancelCheck] = None,
    on_item: Optional[Callable[[Item], None]] = None,
) -> SearchOutcome:
    """Validate ``query``, search one source; what the dock, Processing and the CLI all run."""
    validate_query(query)
    items: list[Item] = []
    for item in source.search(query, cancel):
        items.append(item)
        if on_item is not None:
            on_item(item)
    return SearchOutcome(
        items,
        list(getattr(source, "warnings", []) or []),
        bool(getattr(source, "truncated", False)),
    )


@dataclass
class SourceError:
    """A source that failed during a multi-source search."""

    source_id: str
    name: str
    message: str


@dataclass
class MultiSearchResult:
    """Merged items of several sources, plus the errors of those that failed."""

    items: list[Item] = field(default_factory=list)
    errors: list[SourceError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    truncated: bool = False  # a source stopped paging before its end


def search_sources(
    sources: list[CatalogSource],
    query: SearchQuery,
    cancel: Optional[CancelCheck] = None,
) -> MultiSearchResult:
    """Search every enabled source (each up to ``query.limit`` items); a failing source is reported
    in ``errors`` and does not stop the others. Cancelling stops everything."""
    validate_query(query)
    result = MultiSearchResult()
    for src in sources:
        if not src.config.enabled:
            continue
        if cancel is not None and cancel():
            raise Cancelled(tr("Catalog search cancelled."))
        try:
            outcome = run_search(src, query, cancel)
        except Cancelled:
            raise
        except IdfHrError as exc:
            LOG.warning("source %s failed: %s", src.config.name, exc)
            result.errors.append(SourceError(src.config.id, src.config.name, str(exc)))
        except Exception as exc:  # a bug in one source must not hide the others' results
            LOG.exception("source %s crashed", src.config.name)
            result.errors.append(
                SourceError(
                    src.config.id,
                    src.config.name,
                    tr("The source “{name}” failed unexpectedly: {error}").format(
                        name=src.config.name, error=exc
                    ),
                )
            )
        else:
            result.items.extend(outcome.items)
            result.truncated = result.truncated or outcome.truncated
        for w in getattr(src, "warnings", []) or []:
            result.warnings.append(f"{src.config.name}: {w}")
    return result


def search_configs(
    configs: list[SourceConfig],
    query: SearchQuery,
    cancel: Optional[CancelCheck] = None,
    client: Optional[HttpClient] = None,
) -> MultiSearchResult:
    """Like :func:`search_sources` from settings: an unusable configuration (e.g. no URL) is
    reported in ``errors`` with the others still searched; disabled sources are skipped."""
    sources: list[CatalogSource] = []
    errors: list[SourceError] = []
    for cfg in configs:
        if not cfg.enabled:
            continue
        try:
            sources.append(make_source(cfg, client))
        except IdfHrError as exc:
            errors.append(SourceError(cfg.id, cfg.name, str(exc)))
    result = search_sources(sources, query, cancel)
    result.errors[:0] = errors
    return result
