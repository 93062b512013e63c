"""Commune and EPT boundaries of the Métropole du Grand Paris (131 communes, 12 EPT).

Contours come from a geo.api.gouv.fr-shaped API (``/communes?codeDepartement=…&format=geojson
&geometry=contour`` for 75, 92, 93, 94 and ``/communes/{code}?format=geojson&geometry=contour``
for the seven communes of Essonne and Val-d'Oise), or from a local GeoJSON for offline use.
The membership commune → EPT is bundled (``mgp_communes_ept.csv``, public INSEE/EPT facts).
The fetched boundaries are cached as a GeoPackage with their retrieval date.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from ..errors import NetworkError, UserInputError
from ..gdal_errors import with_gdal_exceptions
from ..http import HttpClient, default_client
from ..i18n import tr
from . import gpkgio
from ._util import best_matches, iter_positions, norm_text, utc_now
from .cache import DatasetCache, age_text

LOG = logging.getLogger("idf_hr.opendata.boundaries")

MEMBERSHIP_CSV = Path(__file__).with_name("mgp_communes_ept.csv")
GEO_API = "https://geo.api.gouv.fr"
CORE_DEPARTMENTS = ("75", "92", "93", "94")
CACHE_KEY = "boundaries-mgp-communes"
CancelCheck = Callable[[], bool]


@dataclass
class Commune:
    insee: str
    nom: str
    dep: str
    ept_id: str
    ept_nom: str
    geometry: dict[str, Any] | None = None  # GeoJSON, WGS84


@dataclass
class Ept:
    id: str
    nom: str
    communes: list[str] = field(default_factory=list)  # INSEE codes


def load_membership(path: str | os.PathLike[str] = MEMBERSHIP_CSV) -> dict[str, dict[str, str]]:
    """INSEE code → {nom, dep, ept_id, ept_nom} for the 131 MGP communes."""
    with open(path, encoding="utf-8", newline="") as fh:
        return {row["insee"]: row for row in csv.DictReader(fh)}


def _ept_sort_key(ept_id: str) -> tuple[int, str]:
    digits = "".join(c for c in ept_id if c.isdigit())
    return (int(digits) if digits else 999, ept_id)


class Boundaries:
    """The MGP communes and EPT, with lookups by (fuzzy) name or code."""

    def __init__(
        self, communes: list[Commune], retrieved_at: datetime | None = None, source: str = ""
    ) -> None:
        self.communes = sorted(communes, key=lambda c: c.insee)
        self.retrieved_at = retrieved_at
        self.source = source
        # said to the user when these are not what was asked for (e.g. the bundled copy offline)
        self.note = ""
        self._by_code = {c.insee: c for c in self.communes}
        epts: dict[str, Ept] = {}
        for c in self.communes:
            epts.setdefault(c.ept_id, Ept(c.ept_id, c.ept_nom)).communes.append(c.insee)
        self.epts = sorted(epts.values(), key=lambda e: _ept_sort_key(e.id))
        self._ept_by_id = {e.id: e for e in self.epts}

    @property
    def age_text(self) -> str:
        return age_text(self.retrieved_at) if self.retrieved_at else ""

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_features(
        cls,
        features: list[dict[str, Any]],
        membership: dict[str, dict[str, str]] | None = None,
        retrieved_at: datetime | None = None,
        source: str = "",
    ) -> Boundaries:
        """Build from GeoJSON features with a ``code`` (INSEE) property; only MGP communes are kept.

        EPT fields are taken from the features (``ept_id``/``ept_nom``) or from the bundled table.
        """
        membership = membership if membership is not None else load_membership()
        communes = []
        for f in features:
            p = f.get("properties") or {}
            code = str(p.get("code") or p.get("insee") or p.get("INSEE_COM") or "")
            m = membership.get(code)
            if m is None:
                continue
            communes.append(
                Commune(
                    insee=code,
                    nom=str(p.get("nom") or m["nom"]),
                    dep=str(p.get("dep") or p.get("codeDepartement") or m["dep"]),
                    ept_id=str(p.get("ept_id") or m["ept_id"]),
                    ept_nom=str(p.get("ept_nom") or m["ept_nom"]),
                    geometry=f.get("geometry"),
                )
            )
        missing = sorted(set(membership) - {c.insee for c in communes})
        if missing:
            LOG.warning(
                "boundaries: %d MGP communes without contour: %s", len(missing), ", ".join(missing[:10])
            )
        return cls(communes, retrieved_at, source)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], layer: str | None = None) -> Boundaries:
        """Load from a local GeoJSON/GeoPackage of communes (e.g. ``mgp_communes_with_ept.geojson``)."""
        feats = gpkgio.read_features(path, layer)
        when = None
        if str(path).lower().endswith(".gpkg"):
            meta = gpkgio.read_metadata(path)
            if meta.get("retrieved_at"):
                when = datetime.fromisoformat(meta["retrieved_at"])
        return cls.from_features(feats, retrieved_at=when, source=str(path))

    @classmethod
    def fetch(
        cls,
        base_url: str = GEO_API,
        client: HttpClient | None = None,
        cache: DatasetCache | None = None,
        refresh: bool = False,
        cancel: CancelCheck | None = None,
        bundled_fallback: bool = True,
    ) -> Boundaries:
        """The MGP boundaries from the cache, or fetched from the API (and cached) when absent or ``refresh``.

        If the network fails, the cached copy is returned (see ``age_text``), else the copy bundled
        with the plugin (:meth:`bundled`, its ``note`` says so) unless ``bundled_fallback`` is false.
        """
        cache = cache or DatasetCache()
        cached = cache.get(CACHE_KEY)
        if cached and not refresh:
            return cls._from_cache(cached)
        try:
            return cls._download(base_url, client or default_client(), cache, cancel)
        except NetworkError as exc:
            if cached:
                LOG.warning("boundaries: network failed, using the cached copy (%s)", cached.age_text)
                return cls._from_cache(cached)
            if not bundled_fallback:
                raise
            LOG.warning("boundaries: %s; using the bundled copy", exc)
            return cls.bundled()

    @classmethod
    def bundled(cls) -> Boundaries:
        """The IGN ADMIN EXPRESS boundaries shipped with the plugin; ``note`` names source, licence, vintage."""
        from ..offline_kit import BUNDLED_BOUNDARIES, bundled_info

        b = cls.from_file(BUNDLED_BOUNDARIES)
        b.note = bundled_boundaries_note(bundled_info(BUNDLED_BOUNDARIES))
        return b

    @classmethod
    def _from_cache(cls, cached) -> Boundaries:
        feats = gpkgio.read_features(cached.path, cached.layer)
        return cls.from_features(feats, retrieved_at=cached.retrieved_at, source=cached.source_url)

    @classmethod
    def _download(cls, base_url: str, client: HttpClient, cache: DatasetCache, cancel) -> Boundaries:
        base_url = base_url.rstrip("/")
        membership = load_membership()
        params = {"format": "geojson", "geometry": "contour", "fields": "code,nom,codeDepartement"}
        feats: list[dict[str, Any]] = []
        for dep in CORE_DEPARTMENTS:
            fc = client.get_json(
                f"{base_url}/communes", params={"codeDepartement": dep, **params}, cancel=cancel
            )
            feats.extend(_features_of(fc, base_url))
        for code, m in sorted(membership.items()):
            if m["dep"] not in CORE_DEPARTMENTS:
                obj = client.get_json(f"{base_url}/communes/{code}", params=params, cancel=cancel)
                feats.extend(_features_of(obj, base_url))
        b = cls.from_features(feats, membership, retrieved_at=utc_now(), source=base_url)
        if len(b.communes) != len(membership):
            raise NetworkError(
                tr(
                    "{host} returned contours for {n} of the {total} MGP communes. Try again later, or load "
                    "the boundaries from a local file."
                ).format(host=base_url, n=len(b.communes), total=len(membership)),
                url=base_url,
            )
        with tempfile.TemporaryDirectory() as tmp:
            gpkg = Path(tmp) / "communes.gpkg"
            b.write_gpkg(gpkg)
            cache.put(
                CACHE_KEY,
                gpkg,
                source_url=f"{base_url}/communes",
                dataset_id="mgp-communes",
                license="Licence Ouverte / Etalab 2.0",
                title="Communes et EPT de la Métropole du Grand Paris",
                layer="communes",
                retrieved_at=b.retrieved_at,
            )
        return b

    # -- lookups --------------------------------------------------------------
    def commune(self, name_or_code: str) -> Commune:
        """A commune by INSEE code or (fuzzy, accent/case-insensitive) name; ``"saint maur"`` works."""
        key = str(name_or_code).strip()
        if key in self._by_code:
            return self._by_code[key]
        idx = best_matches(key, [c.nom for c in self.communes])
        if not idx:
            raise UserInputError(
                tr('No MGP commune matches "{name}". Check the spelling or use the INSEE code.').format(
                    name=key
                )
            )
        return self.communes[idx[0]]

    def ept(self, name_or_id: str) -> Ept:
        """An EPT by id (``T6``) or fuzzy name (``plaine commune``)."""
        key = str(name_or_id).strip()
        if key.upper() in self._ept_by_id:
            return self._ept_by_id[key.upper()]
        idx = best_matches(key, [e.nom for e in self.epts])
        if not idx:
            raise UserInputError(
                tr('No EPT matches "{name}". Known EPT: {known}.').format(
                    name=key, known=", ".join(e.nom for e in self.epts)
                )
            )
        return self.epts[idx[0]]

    def find(self, text: str) -> Commune | Ept:
        """A commune or an EPT, whichever matches ``text`` (EPT ids and exact EPT names win)."""
        key = str(text).strip()
        if key.upper() in self._ept_by_id or any(norm_text(e.nom) == norm_text(key) for e in self.epts):
            return self.ept(key)
        try:
            return self.commune(text)
        except UserInputError:
            return self.ept(text)

    # -- geometry ----------------------------------------------------------------
    def ept_geometry(self, name_or_id: str) -> dict[str, Any]:
        """The dissolved (unioned) GeoJSON geometry of an EPT, WGS84."""
        from shapely.geometry import mapping, shape
        from shapely.ops import unary_union

        e = self.ept(name_or_id)
        geoms = [shape(self._by_code[c].geometry) for c in e.communes if self._by_code[c].geometry]
        return mapping(unary_union(geoms))

    def geometry(self, name_or_code: str) -> dict[str, Any]:
        """GeoJSON geometry (WGS84) of a commune or an EPT."""
        item = self.find(name_or_code)
        return item.geometry if isinstance(item, Commune) else self.ept_geometry(item.id)

    def bbox(self, name_or_code: str, epsg: int = 2154) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of a commune or EPT in ``epsg`` (Lambert-93 by default)."""
        item = self.find(name_or_code)
        codes = [item.insee] if isinstance(item, Commune) else item.communes
        pts = [p for c in codes for p in iter_positions(self._by_code[c].geometry)]
        if not pts:
            raise UserInputError(tr("{name} has no contour to zoom to.").format(name=name_or_code))
        if epsg != 4326:
            pts = _transform(pts, 4326, epsg)
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return (min(xs), min(ys), max(xs), max(ys))

    # -- export -------------------------------------------------------------------
    def feature_collection(self, level: str = "commune") -> dict[str, Any]:
        """GeoJSON FeatureCollection of communes (``level="commune"``) or dissolved EPT (``"ept"``)."""
        if level == "ept":
            feats = [
                {
                    "type": "Feature",
                    "geometry": self.ept_geometry(e.id),
                    "properties": {"ept_id": e.id, "ept_nom": e.nom, "n_communes": len(e.communes)},
                }
                for e in self.epts
            ]
        else:
            feats = [
                {
                    "type": "Feature",
                    "geometry": c.geometry,
                    "properties": {
                        "code": c.insee,
                        "nom": c.nom,
                        "dep": c.dep,
                        "ept_id": c.ept_id,
                        "ept_nom": c.ept_nom,
                    },
                }
                for c in self.communes
            ]
        return {"type": "FeatureCollection", "features": feats}

    def write_gpkg(self, dest: str | os.PathLike[str], level: str = "commune") -> Path:
        """Write communes (or EPT) to a GeoPackage layer (atomic), WGS84."""
        fc = self.feature_collection(level)
        fields = (
            [("ept_id", "str"), ("ept_nom", "str"), ("n_communes", "int")]
            if level == "ept"
            else [("code", "str"), ("nom", "str"), ("dep", "str"), ("ept_id", "str"), ("ept_nom", "str")]
        )
        meta = {"source_url": self.source, "retrieved_at": (self.retrieved_at or utc_now()).isoformat()}
        gpkgio.write_features_gpkg(
            dest, "ept" if level == "ept" else "communes", fc["features"], fields, metadata=meta
        )
        return Path(dest)


def bundled_boundaries_note(info: dict[str, str]) -> str:
    """What the user is told when the bundled boundaries stand in for the unreachable service."""
    return tr(
        "Network unreachable: the bundled IGN ADMIN EXPRESS boundaries (Licence Ouverte, {vintage}) "
        "were used."
    ).format(vintage=info.get("vintage") or "?")


def _features_of(obj: Any, host: str) -> list[dict[str, Any]]:
    if isinstance(obj, dict) and obj.get("type") == "FeatureCollection":
        return list(obj.get("features") or [])
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        return [obj]
    raise NetworkError(
        tr("{host} did not answer with GeoJSON communes (format=geojson).").format(host=host), url=host
    )


@with_gdal_exceptions
def _transform(pts: list[tuple[float, float]], src: int, dst: int) -> list[tuple[float, float]]:
    from osgeo import osr

    s, d = osr.SpatialReference(), osr.SpatialReference()
    s.ImportFromEPSG(src)
    d.ImportFromEPSG(dst)
    for ref in (s, d):
        ref.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    ct = osr.CoordinateTransformation(s, d)
    return [(x, y) for x, y, *_ in ct.TransformPoints(pts)]
