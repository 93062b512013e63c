"""QGIS adapters for open data and fibre: portals from settings, fetch-to-cache jobs, layers, styles.

Two kinds of functions live here:
- *worker-safe* jobs (``fetch_*``, ``load_boundaries``, ``compute_fibre``): plain Python around the
  Qt-free core, run inside an :class:`~idf_hr_plugin.gis.tasks.IdfHrTask` or a Processing
  ``processAlgorithm``; they never touch layers, the project or widgets;
- *main-thread* helpers building and styling ``QgsVectorLayer`` objects (metadata with licence,
  source and retrieval date; theme styles; the graduated FttH choropleth; temporal properties).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit

from qgis.core import (
    QgsAbstractMetadataBase,
    QgsCategorizedSymbolRenderer,
    QgsClassificationJenks,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDateTimeRange,
    QgsFeature,
    QgsFillSymbol,
    QgsGeometry,
    QgsGraduatedSymbolRenderer,
    QgsInterval,
    QgsLayerMetadata,
    QgsLineSymbol,
    QgsMarkerSymbol,
    QgsProject,
    QgsRectangle,
    QgsRendererCategory,
    QgsRendererRange,
    QgsSingleSymbolRenderer,
    QgsStyle,
    QgsSymbol,
    QgsTemporalNavigationObject,
    QgsUnitTypes,
    QgsVectorLayer,
    QgsVectorLayerTemporalProperties,
    QgsWkbTypes,
)

from ..core.errors import NetworkError, UserInputError
from ..core.http import HttpClient, default_client
from ..core.opendata import arcep
from ..core.opendata.boundaries import Boundaries
from ..core.opendata.cache import CachedDataset, DatasetCache, age_text, make_key
from ..core.opendata.datagouv import DataGouv, Resource
from ..core.opendata.ods import PORTALS, OdsPortal
from ..core.opendata.themes import StyleHint
from ..core.paths import cache_dir
from .i18n import tr, user_locale
from .settings import Settings

STYLES_DIR = Path(__file__).resolve().parent.parent / "resources" / "styles"
COVERAGE_QML = STYLES_DIR / "fibre_coverage.qml"
BUILDINGS_QML = STYLES_DIR / "fibre_buildings.qml"
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
DATAGOUV_KEY = "datagouv"
CancelCheck = Callable[[], bool]

# imb_etat values of the ARCEP IPE files → (French label, colour)
BUILDING_STATES: tuple[tuple[str, str, str], ...] = (
    ("deploye", "Déployé (raccordable)", "#1a9641"),
    ("raccordable demande", "Raccordable à la demande", "#a6d96a"),
    ("en cours de deploiement", "En cours de déploiement", "#fdae61"),
    ("signe", "Signé", "#ffffbf"),
    ("cible", "Ciblé", "#bababa"),
    ("abandonne", "Abandonné", "#d7191c"),
)


# ------------------------------------------------------------------------------ portals / settings
@dataclass(frozen=True)
class PortalChoice:
    """One entry of the dock's portal combo: an Opendatasoft portal or data.gouv.fr."""

    key: str
    name: str
    url: str
    kind: str = "ods"  # "ods" | "datagouv"
    user: bool = False


def _json_setting(setting, default):
    raw = setting.value()
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        return default
    return value if isinstance(value, type(default)) else default


def user_portals() -> list[dict[str, str]]:
    """User-added Opendatasoft portals (``[{"name", "url"}]``) from the settings."""
    return [
        p
        for p in _json_setting(Settings.OPENDATA_PORTALS_JSON, [])
        if isinstance(p, dict) and p.get("url") and p.get("name")
    ]


def check_portal_url(url: str) -> str:
    """Normalise a portal URL typed by the user (scheme and host required, no API path)."""
    url = str(url).strip().rstrip("/")
    url = re.sub(r"/api/explore/v2\.1.*$", "", url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserInputError(
            tr("{url} is not a portal address: give it like https://opendata.paris.fr.").format(url=url)
        )
    return url


def add_user_portal(name: str, url: str) -> PortalChoice:
    """Store an Opendatasoft portal in the settings (replacing one with the same URL)."""
    name = str(name).strip()
    url = check_portal_url(url)
    if not name:
        raise UserInputError(tr("Give the portal a name."))
    portals = [p for p in user_portals() if p["url"].rstrip("/") != url]
    portals.append({"name": name, "url": url})
    Settings.OPENDATA_PORTALS_JSON.set(json.dumps(portals))
    return PortalChoice(_user_key(url), name, url, "ods", True)


def remove_user_portal(url: str) -> None:
    portals = [p for p in user_portals() if p["url"].rstrip("/") != url.rstrip("/")]
    Settings.OPENDATA_PORTALS_JSON.set(json.dumps(portals))


def _user_key(url: str) -> str:
    return "user:" + url.rstrip("/")


def portal_choices() -> list[PortalChoice]:
    """MGP and Paris presets (URLs from the settings), user portals, then data.gouv.fr."""
    urls = {"mgp": Settings.OPENDATA_MGP_URL.value(), "paris": Settings.OPENDATA_PARIS_URL.value()}
    out = [
        PortalChoice(k, PORTALS[k].name, (urls.get(k) or PORTALS[k].base_url).rstrip("/"))
        for k in ("mgp", "paris")
    ]
    out += [
        PortalChoice(_user_key(p["url"]), p["name"], p["url"].rstrip("/"), "ods", True)
        for p in user_portals()
    ]
    out.append(
        PortalChoice(
            DATAGOUV_KEY, "data.gouv.fr", Settings.OPENDATA_DATAGOUV_URL.value().rstrip("/"), "datagouv"
        )
    )
    return out


def resolve_portal_url(value: str) -> str:
    """A portal URL from a preset key (``mgp``, ``paris``), a user portal name, or a URL."""
    value = str(value or "").strip()
    for choice in portal_choices():
        if value.lower() in (choice.key, choice.name.lower()) and choice.kind == "ods":
            return choice.url
    if value.startswith(("http://", "https://")):
        return check_portal_url(value)
    raise UserInputError(
        tr("Unknown portal {value}: give a portal URL or one of {keys}.").format(
            value=value, keys=", ".join(c.key for c in portal_choices() if c.kind == "ods" and not c.user)
        )
    )


def theme_overrides() -> dict[str, list[str]]:
    """Dataset ids per theme configured by the user (portal renamed a dataset)."""
    raw = _json_setting(Settings.OPENDATA_THEME_IDS_JSON, {})
    return {str(k): [str(i) for i in v] for k, v in raw.items() if isinstance(v, list)}


def arcep_aliases() -> dict[str, list[str]]:
    """Extra ARCEP column names per role from the settings."""
    raw = _json_setting(Settings.ARCEP_ALIASES_JSON, {})
    return {str(k): [str(i) for i in v] for k, v in raw.items() if isinstance(v, list)}


def offline() -> bool:
    return bool(Settings.OFFLINE.value())


# ------------------------------------------------------------------------------ worker-safe jobs
@dataclass
class LoadOutcome:
    """A dataset ready to be added: the cache entry, and whether the network was skipped or failed."""

    entry: CachedDataset
    from_cache: bool = False
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def ods_cache_key(portal_url: str, dataset_id: str, where: str | None, bbox) -> str:
    box = ",".join(f"{v:.5f}" for v in bbox) if bbox else ""
    return make_key(urlsplit(portal_url).netloc or portal_url, dataset_id, portal_url, where or "", box)


def _cached_or_raise(cache: DatasetCache, key: str, exc: Exception | None, what: str) -> LoadOutcome:
    entry = cache.get(key)
    if entry is None:
        if exc is not None:
            raise exc
        raise UserInputError(
            tr(
                "IdF HR is set to work offline and {what} is not in the local cache. Switch the "
                "network back on in Settings › IdF HR, or load one of the cached datasets."
            ).format(what=what)
        )
    if exc is None:
        note = tr("Offline: loaded the cached copy ({age}).").format(age=entry.age_text)
    else:
        note = tr("The network request failed ({error}); loaded the cached copy ({age}).").format(
            error=str(exc).rstrip("."), age=entry.age_text
        )
    return LoadOutcome(entry, True, note)


def fetch_ods_dataset(
    portal_url: str,
    dataset_id: str,
    where: str | None = None,
    bbox_wgs84: tuple[float, float, float, float] | None = None,
    *,
    cache: DatasetCache | None = None,
    client: HttpClient | None = None,
    cancel: CancelCheck | None = None,
    offline_mode: bool | None = None,
) -> LoadOutcome:
    """Export ALL records of an Opendatasoft dataset (GeoJSON export), store them in the cache.

    Offline (setting or ``offline_mode``), or when the network fails, the cached copy is used.
    """
    cache = cache or DatasetCache()
    key = ods_cache_key(portal_url, dataset_id, where, bbox_wgs84)
    if offline() if offline_mode is None else offline_mode:
        return _cached_or_raise(cache, key, None, dataset_id)
    portal = OdsPortal(portal_url, client or default_client())
    with tempfile.TemporaryDirectory(dir=cache.root) as tmp:
        try:
            info = portal.dataset(dataset_id)
            res = portal.export_geojson(
                dataset_id,
                Path(tmp) / "export.geojson",
                where=where,
                bbox_wgs84=bbox_wgs84,
                cancel=cancel,
                info=info,
            )
        except NetworkError as exc:
            if exc.status is not None and exc.status < 500 and exc.status != 429:
                raise
            return _cached_or_raise(cache, key, exc, dataset_id)
        entry = cache.put(
            key,
            res.path,
            source_url=res.source_url,
            dataset_id=dataset_id,
            license=info.license,
            title=info.title,
            retrieved_at=res.retrieved_at,
        )
    return LoadOutcome(
        entry, extra={"publisher": info.publisher, "modified": info.modified, "portal": portal_url}
    )


def unreachable(exc: Exception) -> bool:
    """The service could not be reached or is down (not a refusal of what was asked)."""
    status = getattr(exc, "status", None)
    return isinstance(exc, NetworkError) and (status is None or status >= 500 or status == 429)


def cached_theme(
    key: str,
    portal_url: str,
    overrides: Mapping[str, Sequence[str]] | None = None,
    error: Exception | None = None,
    cache: DatasetCache | None = None,
) -> tuple[Any, list[LoadOutcome]]:
    """The datasets of theme ``key`` that the cache holds, for when the portal cannot be reached.

    Returns ``(ThemeResolution, outcomes)`` like an online load (ids not cached are ``missing``);
    raises a :class:`UserInputError` saying what to do when none is cached.
    """
    from ..core.opendata.themes import ThemeResolution, theme

    preset = theme(key)
    cache = cache or DatasetCache()
    ids = tuple((overrides or {}).get(key) or preset.dataset_ids)
    outcomes, missing = [], []
    for ds_id in ids:
        if cache.get(ods_cache_key(portal_url, ds_id, None, None)) is None:
            missing.append(ds_id)
        else:
            outcomes.append(
                _cached_or_raise(cache, ods_cache_key(portal_url, ds_id, None, None), error, ds_id)
            )
    if not outcomes:
        raise UserInputError(
            tr(
                "The MGP portal cannot be reached and no dataset of the theme {theme} is in the local "
                "cache. Load the theme once online (it is then kept for offline use), or load one of "
                "the cached datasets."
            ).format(theme=preset.label(user_locale()))
        )
    return ThemeResolution(preset, [], {}, missing), outcomes


def fetch_datagouv_resource(
    base_url: str,
    resource: Resource,
    *,
    title: str = "",
    license: str = "",
    cache: DatasetCache | None = None,
    client: HttpClient | None = None,
    cancel: CancelCheck | None = None,
    offline_mode: bool | None = None,
) -> LoadOutcome:
    """Download a data.gouv.fr resource (GeoJSON, CSV with coordinates, zipped shapefile, GeoPackage) to the cache."""
    cache = cache or DatasetCache()
    key = make_key("datagouv", resource.id or resource.url, resource.url)
    if offline() if offline_mode is None else offline_mode:
        return _cached_or_raise(cache, key, None, resource.title)
    dg = DataGouv(base_url, client or default_client())
    with tempfile.TemporaryDirectory(dir=cache.root) as tmp:
        try:
            dsn = dg.fetch_resource(resource, tmp, cancel=cancel)
        except NetworkError as exc:
            return _cached_or_raise(cache, key, exc, resource.title)
        entry = cache.put(
            key,
            dsn,
            source_url=resource.url,
            dataset_id=resource.dataset_id or resource.id,
            license=license,
            title=title or resource.title,
            src_layer=_first_vector_layer(dsn),
            layer=re.sub(r"[^a-z0-9_]+", "_", (resource.title or resource.id or "resource").lower()).strip(
                "_"
            )[:50]
            or "resource",
        )
    return LoadOutcome(entry)


def _first_vector_layer(dsn: str) -> str | None:
    """Name of the first layer with geometry in a multi-layer source (GeoPackage), else None."""
    if not str(dsn).lower().endswith(".gpkg"):
        return None
    from osgeo import ogr

    ds = ogr.Open(str(dsn))
    names = [lyr.GetName() for lyr in ds if lyr.GetGeomType() != ogr.wkbNone] if ds is not None else []
    return names[0] if names else None


def load_boundaries(
    local_file: str | None = None,
    *,
    client: HttpClient | None = None,
    cancel: CancelCheck | None = None,
    cache: DatasetCache | None = None,
) -> Boundaries:
    """The MGP communes/EPT: a local file (argument or setting) or the API (cached, offline-safe)."""
    path = (local_file or Settings.BOUNDARIES_FILE.value() or "").strip()
    if path:
        if not Path(path).is_file():
            raise UserInputError(
                tr(
                    "The boundaries file {path} does not exist. Pick another file or clear the setting."
                ).format(path=path)
            )
        b = Boundaries.from_file(path)
    else:
        b = Boundaries.fetch(
            Settings.BOUNDARIES_API_URL.value(), client or default_client(), cache, cancel=cancel
        )
    if not b.communes:
        raise UserInputError(
            tr("No MGP commune was found in {source}: it needs a code (INSEE) property.").format(
                source=b.source
            )
        )
    return b


def fetch_table(src: str, *, client: HttpClient | None = None, cancel: CancelCheck | None = None) -> Path:
    """A local path for an ARCEP table given as a file path or an http(s) URL (downloaded to the cache)."""
    src = str(src or "").strip()
    if not src:
        raise UserInputError(tr("Pick a file (or give a URL)."))
    if not src.startswith(("http://", "https://")):
        if not Path(src).is_file():
            raise UserInputError(tr("The file {path} does not exist.").format(path=src))
        return Path(src)
    name = Path(urlsplit(src).path).name or "table.csv"
    dest = cache_dir() / "fibre" / "downloads" / f"{hashlib.sha256(src.encode()).hexdigest()[:12]}_{name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    resp = (client or default_client()).get(src, cancel=cancel)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(resp.content)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


@dataclass
class FibreOutcome:
    """Coverage computed and written: the core result and the GeoPackages per level."""

    result: arcep.CoverageResult
    outputs: dict[str, Path]  # level → GeoPackage
    quarters: list[str]
    ipe: arcep.IpeResult | None = None
    notes: list[str] = field(default_factory=list)  # stand-ins used (bundled figures or boundaries)
    bundled_ftth: bool = False  # no FttH file given: the ARCEP snapshot shipped with the plugin

    def messages(self) -> list[str]:
        """What the user is told after the computation: stand-ins used, then the data warnings."""
        return self.notes + self.result.warnings()


def bundled_ftth_note() -> str:
    """Says that the ARCEP snapshot bundled with the plugin was used, with its source, licence, vintage."""
    from ..core.offline_kit import BUNDLED_FTTH, bundled_info

    info = bundled_info(BUNDLED_FTTH)
    return tr(
        "No ARCEP file given: the bundled ARCEP snapshot was used ({vintage}; {source}; {licence}). "
        "Pick newer ARCEP files for current figures."
    ).format(
        vintage=info.get("vintage", "?"),
        source=info.get("source_url", "ARCEP"),
        licence=info.get("licence", ""),
    )


def _replace_cache_file(dest: Path, write: Callable[[Path], Any]) -> Path:
    """Write one of the plugin's own cache GeoPackages as a new file and move it over the old one.

    A layer of the previous computation may still be open in QGIS: it keeps reading the old file
    instead of seeing its table dropped and recreated underneath it (only user files are changed
    in place)."""
    import uuid

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.{uuid.uuid4().hex[:8]}.tmp.gpkg")
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        for side in ("", "-journal", "-wal", "-shm"):
            Path(f"{tmp}{side}").unlink(missing_ok=True)
    return dest


def compute_fibre(
    ftth_src: str,
    premises_src: str | None,
    boundaries_src: str | None = None,
    *,
    aliases: Mapping[str, Sequence[str]] | None = None,
    levels: Sequence[str] = ("commune", "ept"),
    quarters: Sequence[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    outputs: Mapping[str, str] | None = None,
    layers: Mapping[str, str] | None = None,
    ipe_src: str | None = None,
    client: HttpClient | None = None,
    cancel: CancelCheck | None = None,
    progress: Callable[[float], None] | None = None,
) -> FibreOutcome:
    """Load ARCEP files, compute coverage per commune/EPT/MGP, write one GeoPackage per level (atomic).

    No ``ftth_src``: the ARCEP snapshot bundled with the plugin is used (and the outcome says so).
    """
    step = progress or (lambda _v: None)
    al = {**arcep_aliases(), **(aliases or {})}
    notes: list[str] = []
    bundled = not str(ftth_src or "").strip()
    if bundled:
        from ..core.offline_kit import BUNDLED_FTTH

        ftth_src = str(BUNDLED_FTTH)
        notes.append(bundled_ftth_note())
    ftth = arcep.load_ftth(fetch_table(ftth_src, client=client, cancel=cancel), al)
    step(0.2)
    premises = (
        arcep.load_premises(fetch_table(premises_src, client=client, cancel=cancel), al)
        if premises_src
        else None
    )
    if premises is None and not ftth.premises:
        raise UserInputError(
            tr(
                "The FttH file has no premises column and no premises file was given: pick the ARCEP "
                "communes file (Logements, Établissements) to compute coverage rates."
            )
        )
    step(0.35)
    bounds = load_boundaries(boundaries_src, client=client, cancel=cancel)
    if bounds.note:
        notes.append(bounds.note)
    if quarters:
        unknown = [q for q in quarters if arcep.parse_quarter(q) is None]
        if unknown:
            raise UserInputError(
                tr('{label} is not a quarter like "T1 2018".').format(label=", ".join(unknown))
            )
        canon = [arcep.quarter_label(*arcep.parse_quarter(q)) for q in quarters]
        absent = [q for q in canon if q not in ftth.quarters]
        if absent:
            raise UserInputError(
                tr("The FttH file has no figures for {quarter}; its quarters are {known}.").format(
                    quarter=", ".join(absent), known=", ".join(ftth.quarters)
                )
            )
        quarters = canon
    result = arcep.compute_coverage(ftth, premises, bounds.communes, quarters)
    if not result.communes:
        raise UserInputError(
            tr(
                "No MGP commune of the boundaries has FttH figures in {file}: check that the file covers "
                "Île-de-France and that its INSEE column is right."
            ).format(file=Path(ftth_src).name)
        )
    step(0.6)
    if cancel is not None and cancel():
        from ..core.errors import Cancelled

        raise Cancelled()
    tag = hashlib.sha256(f"{ftth_src}|{premises_src}|{bounds.source}|{quarters}".encode()).hexdigest()[:10]
    base = Path(out_dir) if out_dir else cache_dir() / "fibre"
    written: dict[str, Path] = {}
    for i, level in enumerate(levels):
        layer = (layers or {}).get(level)  # default: ftth_coverage_<level>
        if (outputs or {}).get(level):  # the user's file: the layer is added in place, other layers kept
            written[level] = arcep.write_coverage_gpkg(
                result, bounds, outputs[level], level=level, layer=layer
            )
        else:
            written[level] = _replace_cache_file(
                base / f"ftth_coverage_{level}_{tag}.gpkg",
                lambda tmp, level=level, layer=layer: arcep.write_coverage_gpkg(
                    result, bounds, tmp, level=level, layer=layer
                ),
            )
        step(0.6 + 0.3 * (i + 1) / len(levels))
    ipe = None
    if ipe_src:
        table = fetch_table(ipe_src, client=client, cancel=cancel)
        results: list = []
        ipe_path = _replace_cache_file(
            base / f"ftth_buildings_{tag}.gpkg",
            lambda tmp: results.append(arcep.write_ipe_gpkg(table, tmp, al)),
        )
        ipe = dataclasses.replace(results[0], path=ipe_path)
    step(1.0)
    return FibreOutcome(result, written, list(result.quarters), ipe, notes, bundled)


# ------------------------------------------------------------------------------ layers (main thread)
def apply_metadata(
    layer: QgsVectorLayer,
    *,
    title: str,
    license: str = "",
    source_url: str = "",
    retrieved_at: datetime | None = None,
    publisher: str = "",
    abstract: str = "",
) -> None:
    """Licence, source, publisher and retrieval date into the layer metadata (and custom properties)."""
    md = QgsLayerMetadata(layer.metadata())
    md.setTitle(title)
    md.setIdentifier(source_url or title)
    if license:
        md.setLicenses([license])
    if publisher:
        md.setRights([publisher])
        layer.setAttribution(publisher)
    when = retrieved_at.astimezone(timezone.utc).isoformat() if retrieved_at else ""
    lines = [abstract.strip()] if abstract.strip() else []
    if source_url:
        lines.append(tr("Source: {url}").format(url=source_url))
        link = QgsAbstractMetadataBase.Link(tr("Source"), "WWW:LINK", source_url)
        md.setLinks([link])
    if when:
        lines.append(tr("Retrieved on {date} (UTC).").format(date=when))
        md.setHistory([tr("Retrieved on {date} (UTC) by IdF HR.").format(date=when)])
    md.setAbstract("\n".join(lines))
    md.setKeywords({"IdF HR": ["open data"] + ([license] if license else [])})
    layer.setMetadata(md)
    layer.setCustomProperty("idf_hr/source_url", source_url)
    layer.setCustomProperty("idf_hr/license", license)
    layer.setCustomProperty("idf_hr/retrieved_at", when)


def cached_layer(
    entry: CachedDataset, name: str | None = None, show_age: bool = False, publisher: str = ""
) -> QgsVectorLayer:
    """A layer on a cache entry (GeoPackage) with its metadata; ``show_age`` appends "retrieved … ago"."""
    name = name or entry.title or entry.dataset_id or entry.key
    if show_age:
        name = f"{name} ({entry.age_text})"
    layer = QgsVectorLayer(entry.uri, name, "ogr")
    if not layer.isValid():
        raise UserInputError(
            tr("QGIS could not open the cached dataset {path}; delete it and load the dataset again.").format(
                path=entry.path
            )
        )
    apply_metadata(
        layer,
        title=entry.title or name,
        license=entry.license,
        source_url=entry.source_url,
        retrieved_at=entry.retrieved_at,
        publisher=publisher,
    )
    return layer


def file_layer(path: str | os.PathLike[str], name: str, layer: str | None = None) -> QgsVectorLayer:
    uri = f"{path}|layername={layer}" if layer else str(path)
    lyr = QgsVectorLayer(uri, name, "ogr")
    if not lyr.isValid():
        raise UserInputError(tr("QGIS could not open {path}.").format(path=path))
    return lyr


def _symbol_for(layer: QgsVectorLayer, hint: StyleHint) -> QgsSymbol:
    gtype = layer.geometryType()
    if gtype == QgsWkbTypes.GeometryType.PointGeometry:
        sym = QgsMarkerSymbol.createSimple(
            {"name": hint.symbol, "color": hint.color, "outline_color": hint.stroke, "size": "3"}
        )
    elif gtype == QgsWkbTypes.GeometryType.LineGeometry:
        sym = QgsLineSymbol.createSimple({"line_color": hint.color, "line_width": "0.6"})
    else:
        sym = QgsFillSymbol.createSimple(
            {"color": hint.color, "outline_color": hint.stroke, "outline_width": "0.3"}
        )
    sym.setOpacity(float(hint.opacity))
    return sym


def apply_style_hint(layer: QgsVectorLayer, hint: StyleHint, classes: int = 5) -> None:
    """Style a theme layer: graduated on ``hint.graduated_field`` when the layer has it, else single symbol."""
    base = _symbol_for(layer, hint)
    fld = hint.graduated_field
    if fld and layer.fields().indexOf(fld) >= 0 and layer.featureCount() > 0:
        renderer = QgsGraduatedSymbolRenderer(fld)
        renderer.setSourceSymbol(base.clone())
        renderer.setClassificationMethod(QgsClassificationJenks())
        renderer.updateClasses(layer, classes)
        ramp = QgsStyle.defaultStyle().colorRamp(hint.ramp or "Reds")
        if ramp is not None:
            renderer.updateColorRamp(ramp)
        layer.setRenderer(renderer)
    else:
        layer.setRenderer(QgsSingleSymbolRenderer(base))
    layer.triggerRepaint()


def coverage_renderer(field_name: str = "coverage_pct") -> QgsGraduatedSymbolRenderer:
    """The MGP-observatory-like choropleth: 0–10, 10–25, 25–50, 50–80, 80–100 % with French labels."""
    ranges = []
    for lo, hi, label, color in arcep.CLASS_BREAKS:
        sym = QgsFillSymbol.createSimple({"color": color, "outline_color": "#636363", "outline_width": "0.2"})
        ranges.append(QgsRendererRange(float(lo), float(min(hi, 100.0)), sym, label))
    renderer = QgsGraduatedSymbolRenderer(field_name, ranges)
    renderer.setMode(QgsGraduatedSymbolRenderer.Mode.Custom)
    return renderer


def set_quarter_temporal(layer: QgsVectorLayer, field_name: str = "quarter_date", months: int = 3) -> None:
    """Temporal properties: each feature lasts ``months`` from its ``quarter_date`` (Temporal Controller)."""
    props = layer.temporalProperties()
    props.setMode(QgsVectorLayerTemporalProperties.ModeFeatureDateTimeInstantFromField)
    props.setStartField(field_name)
    props.setFixedDuration(float(months))
    props.setDurationUnits(QgsUnitTypes.TemporalUnit.TemporalMonths)
    props.setIsActive(True)


def animate_quarters(
    canvas, layer: QgsVectorLayer, field_name: str = "quarter_date", months: int = 3
) -> bool:
    """Turn the canvas Temporal Controller on, over the quarters of ``layer``, one quarter a frame.

    False when the canvas has no navigable controller (outside the QGIS desktop) or the layer no dates.
    """
    nav = canvas.temporalController()
    idx = layer.fields().indexOf(field_name)
    if not isinstance(nav, QgsTemporalNavigationObject) or idx < 0:
        return False
    first, last = layer.minimumValue(idx), layer.maximumValue(idx)
    first, last = (_as_datetime(v) for v in (first, last))
    if first is None or last is None:
        return False
    # the extent ends where the last quarter starts: QGIS counts one frame more than whole durations
    nav.setTemporalExtents(QgsDateTimeRange(first, last))
    nav.setFrameDuration(QgsInterval(0, months, 0, 0, 0, 0, 0))
    nav.setNavigationMode(QgsTemporalNavigationObject.NavigationMode.Animated)
    nav.setCurrentFrameNumber(0)
    return True


def stop_animation(canvas) -> None:
    """Turn the canvas Temporal Controller off (one quarter is shown by a filter instead)."""
    nav = canvas.temporalController()
    if isinstance(nav, QgsTemporalNavigationObject):
        nav.setNavigationMode(QgsTemporalNavigationObject.NavigationMode.NavigationOff)


def _as_datetime(value):
    from qgis.PyQt.QtCore import QDate, QDateTime, QTime

    if isinstance(value, QDateTime):
        return value if value.isValid() else None
    if isinstance(value, QDate):
        return QDateTime(value, QTime(0, 0)) if value.isValid() else None
    if isinstance(value, str):
        parsed = QDateTime.fromString(value[:10], "yyyy-MM-dd")
        return parsed if parsed.isValid() else None
    return None


def style_coverage_layer(layer: QgsVectorLayer) -> None:
    """Shipped QML (``fibre_coverage.qml``) or the built renderer, plus quarter temporal properties."""
    loaded = False
    if COVERAGE_QML.exists():
        _msg, loaded = layer.loadNamedStyle(str(COVERAGE_QML))
    if not loaded or not isinstance(layer.renderer(), QgsGraduatedSymbolRenderer):
        layer.setRenderer(coverage_renderer())
    set_quarter_temporal(layer)
    layer.triggerRepaint()


def quarter_filter(quarter: str | None) -> str:
    """Subset string showing one quarter (empty: every quarter, for the Temporal Controller)."""
    if not quarter:
        return ""
    return "\"quarter\" = '{q}'".format(q=str(quarter).replace("'", "''"))


def buildings_renderer(field_name: str = "imb_etat") -> QgsCategorizedSymbolRenderer:
    """Building points (IPE) by ``imb_etat`` with French labels; other values in grey."""
    cats = []
    for value, label, color in BUILDING_STATES:
        sym = QgsMarkerSymbol.createSimple(
            {"name": "circle", "color": color, "outline_color": "#333333", "size": "2"}
        )
        cats.append(QgsRendererCategory(value, sym, label))
    other = QgsMarkerSymbol.createSimple({"name": "circle", "color": "#7f7f7f", "size": "1.6"})
    cats.append(QgsRendererCategory(None, other, tr("Other state")))
    return QgsCategorizedSymbolRenderer(field_name, cats)


def style_buildings_layer(layer: QgsVectorLayer) -> None:
    loaded = False
    if BUILDINGS_QML.exists():
        _msg, loaded = layer.loadNamedStyle(str(BUILDINGS_QML))
    if not loaded or not isinstance(layer.renderer(), QgsCategorizedSymbolRenderer):
        layer.setRenderer(buildings_renderer())
    layer.triggerRepaint()


def boundary_layer(boundaries: Boundaries, name_or_code: str) -> QgsVectorLayer:
    """A memory layer with the outline of one commune or EPT (WGS84)."""
    from osgeo import ogr

    item = boundaries.find(name_or_code)
    geom = boundaries.geometry(name_or_code)
    label = getattr(item, "nom", name_or_code)
    layer = QgsVectorLayer("MultiPolygon?crs=EPSG:4326&field=code:string&field=nom:string", label, "memory")
    feat = QgsFeature(layer.fields())
    feat.setGeometry(QgsGeometry.fromWkt(ogr.CreateGeometryFromJson(json.dumps(geom)).ExportToWkt()))
    feat.setAttributes([getattr(item, "insee", None) or getattr(item, "id", ""), label])
    layer.dataProvider().addFeatures([feat])
    layer.updateExtents()
    sym = QgsFillSymbol.createSimple(
        {"color": "0,0,0,0", "outline_color": "#e31a1c", "outline_width": "0.8", "style": "no"}
    )
    layer.setRenderer(QgsSingleSymbolRenderer(sym))
    from ..core.offline_kit import bundled_info

    info = bundled_info(boundaries.source)  # the copy bundled with the plugin: its own source and vintage
    apply_metadata(
        layer,
        title=label,
        license=info.get("licence") or "Licence Ouverte / Etalab 2.0",
        source_url=info.get("source_url") or boundaries.source,
        retrieved_at=None if info else boundaries.retrieved_at,
        abstract=tr("Bundled with IdF HR, vintage {vintage}.").format(vintage=info["vintage"])
        if info.get("vintage")
        else "",
    )
    return layer


def zoom_canvas(canvas, bbox_wgs84: tuple[float, float, float, float], margin: float = 0.05) -> QgsRectangle:
    """Zoom ``canvas`` to a WGS84 box, transformed to the canvas CRS; returns the new extent."""
    crs = canvas.mapSettings().destinationCrs()
    rect = QgsRectangle(*bbox_wgs84)
    if crs.isValid() and crs != WGS84:
        rect = QgsCoordinateTransform(WGS84, crs, QgsProject.instance()).transformBoundingBox(rect)
    rect.scale(1.0 + margin)
    canvas.setExtent(rect)
    canvas.refresh()
    return canvas.extent()


def canvas_bbox_wgs84(canvas) -> tuple[float, float, float, float] | None:
    """The canvas extent as a WGS84 (west, south, east, north) box; None when empty or world-wide."""
    rect, crs = canvas.extent(), canvas.mapSettings().destinationCrs()
    if rect is None or rect.isEmpty() or not crs.isValid():
        return None
    if crs != WGS84:
        rect = QgsCoordinateTransform(crs, WGS84, QgsProject.instance()).transformBoundingBox(rect)
    if rect.width() > 20 or rect.height() > 20:
        return None
    return (
        max(-180.0, rect.xMinimum()),
        max(-90.0, rect.yMinimum()),
        min(180.0, rect.xMaximum()),
        min(90.0, rect.yMaximum()),
    )


def entry_age(entry: CachedDataset, now: datetime | None = None) -> str:
    return age_text(entry.retrieved_at, now)
