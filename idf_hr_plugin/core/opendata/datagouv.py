"""data.gouv.fr (API 1): dataset search, resource list, and resources turned into OGR-openable files.

- ``GET /api/1/datasets/?q=…&page_size=…`` → ``{"data": [dataset…], "page", "page_size", "total", "next_page"}``
- ``GET /api/1/datasets/{id}/`` → dataset with ``resources: [{"id", "title", "format", "url", "filesize", "mime"}]``

:meth:`DataGouv.fetch_resource` returns a data source string GDAL/OGR (and QGIS) opens directly:
a GeoJSON or GeoPackage path, a ``/vsizip/…/x.shp`` path for a zipped shapefile, or a GeoPackage
of points written from a CSV with coordinate columns.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from ..errors import Cancelled, NetworkError, UserInputError
from ..http import HttpClient, default_client
from ..i18n import tr
from . import gpkgio
from ._util import atomic_path, geometry_problem, parse_number
from .tabular import read_table

CancelCheck = Callable[[], bool]

SUPPORTED = ("GeoJSON", "CSV (with coordinate columns)", "zipped Shapefile", "GeoPackage")
LON_ALIASES = ("longitude", "lon", "lng", "long", "x_wgs84", "coord_x", "x", "xlong", "coordonnee_x")
LAT_ALIASES = ("latitude", "lat", "y_wgs84", "coord_y", "y", "ylat", "coordonnee_y")


@dataclass
class Resource:
    id: str
    title: str
    format: str
    url: str
    filesize: int | None = None
    mime: str = ""
    dataset_id: str = ""


@dataclass
class DataGouvDataset:
    id: str
    title: str
    slug: str = ""
    description: str = ""
    license: str = ""
    organization: str = ""
    last_modified: str = ""
    page: str = ""
    resources: list[Resource] = field(default_factory=list)


def _parse_dataset(obj: dict[str, Any]) -> DataGouvDataset:
    org = obj.get("organization") or obj.get("owner") or {}
    ds_id = str(obj.get("id", ""))
    return DataGouvDataset(
        id=ds_id,
        title=str(obj.get("title", "")),
        slug=str(obj.get("slug", "")),
        description=str(obj.get("description") or ""),
        license=str(obj.get("license") or ""),
        organization=str(org.get("name") or org.get("slug") or "") if isinstance(org, dict) else "",
        last_modified=str(obj.get("last_modified") or obj.get("last_update") or ""),
        page=str(obj.get("page") or ""),
        resources=[
            Resource(
                id=str(r.get("id", "")),
                title=str(r.get("title") or ""),
                format=str(r.get("format") or "").lower(),
                url=str(r.get("url") or ""),
                filesize=r.get("filesize"),
                mime=str(r.get("mime") or ""),
                dataset_id=ds_id,
            )
            for r in obj.get("resources") or []
        ],
    )


def _kind(resource: Resource, head: bytes) -> str | None:
    fmt = resource.format.lower().strip(". ")
    ext = Path(urlsplit(resource.url).path).suffix.lower().lstrip(".")
    mime = resource.mime.lower()
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"SQLite format 3"):
        return "gpkg"
    if fmt in ("geojson",) or ext == "geojson" or "geo+json" in mime:
        return "geojson"
    if fmt in ("csv",) or ext == "csv" or mime in ("text/csv", "application/csv"):
        return "csv"
    if fmt == "json" or ext == "json":
        return "geojson"  # only if it is in fact GeoJSON (checked later)
    if fmt in ("shp", "zip", "shapefile") or ext == "zip":
        return "zip"
    if fmt == "gpkg" or ext == "gpkg":
        return "gpkg"
    return None


class DataGouv:
    """Client of data.gouv.fr's API 1."""

    def __init__(self, base_url: str = "https://www.data.gouv.fr", client: HttpClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or default_client()

    def search(self, q: str, page_size: int = 20, page: int = 1) -> list[DataGouvDataset]:
        """Datasets matching the text ``q``."""
        data = self.client.get_json(
            f"{self.base_url}/api/1/datasets/",
            params={"q": q, "page_size": int(page_size), "page": int(page)},
        )
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise NetworkError(
                tr("{host} did not answer like the data.gouv.fr API.").format(host=self.base_url),
                url=self.base_url,
            )
        return [_parse_dataset(d) for d in data["data"]]

    def dataset(self, dataset_id: str) -> DataGouvDataset:
        """One dataset with its resources."""
        try:
            return _parse_dataset(self.client.get_json(f"{self.base_url}/api/1/datasets/{dataset_id}/"))
        except NetworkError as exc:
            if exc.status == 404:
                raise UserInputError(
                    tr("The data.gouv.fr dataset {id} does not exist (any more).").format(id=dataset_id)
                ) from exc
            raise

    def fetch_resource(
        self, resource: Resource, dest_dir: str | os.PathLike[str], cancel: CancelCheck | None = None
    ) -> str:
        """Download ``resource`` into ``dest_dir`` and return a data source string OGR can open.

        GeoJSON and GeoPackage are returned as files, a zipped shapefile as ``/vsizip/…/x.shp``, a
        CSV with longitude/latitude (or x/y Lambert-93) columns as a GeoPackage of points.
        Other formats raise :class:`UserInputError` naming the supported ones.
        """
        dest_dir = Path(dest_dir)
        dest_dir.mkdir(parents=True, exist_ok=True)
        resp = self.client.get(resource.url, cancel=cancel)
        if cancel is not None and cancel():
            raise Cancelled()
        kind = _kind(resource, resp.content[:16])
        if kind is None:
            raise UserInputError(
                tr(
                    'The resource "{title}" is in the format {fmt}, which IdF HR cannot load as a layer. '
                    "Supported formats: {supported}."
                ).format(title=resource.title, fmt=resource.format or "?", supported=", ".join(SUPPORTED))
            )
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", resource.id or resource.title or "resource")[:60]
        if kind == "geojson":
            return str(self._save_geojson(resource, resp.content, dest_dir / f"{stem}.geojson"))
        if kind == "gpkg":
            return str(self._save_gpkg(resource, resp.content, dest_dir / f"{stem}.gpkg"))
        if kind == "zip":
            return self._save_zip(resource, resp.content, dest_dir / f"{stem}.zip")
        raw = dest_dir / f"{stem}.csv"
        with atomic_path(raw) as tmp:
            tmp.write_bytes(resp.content)
        return str(csv_to_points_gpkg(raw, dest_dir / f"{stem}.gpkg", layer=stem, source_url=resource.url))

    # -- per format --------------------------------------------------------------
    @staticmethod
    def _save_geojson(resource: Resource, content: bytes, dest: Path) -> Path:
        try:
            obj = json.loads(content.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserInputError(
                tr('The resource "{title}" is not valid JSON, so it cannot be loaded as GeoJSON.').format(
                    title=resource.title
                )
            ) from exc
        if not isinstance(obj, dict) or obj.get("type") not in ("FeatureCollection", "Feature"):
            raise UserInputError(
                tr('The resource "{title}" is JSON but not GeoJSON (no FeatureCollection).').format(
                    title=resource.title
                )
            )
        for i, feat in enumerate(obj.get("features") or [obj]):
            problem = geometry_problem(feat.get("geometry") if isinstance(feat, dict) else "x")
            if problem:
                raise UserInputError(
                    tr('The resource "{title}" has a malformed geometry (feature {n}: {problem}).').format(
                        title=resource.title, n=i + 1, problem=problem
                    )
                )
        with atomic_path(dest) as tmp:
            tmp.write_bytes(content)
        return dest

    @staticmethod
    def _save_gpkg(resource: Resource, content: bytes, dest: Path) -> Path:
        with atomic_path(dest) as tmp:
            tmp.write_bytes(content)
            try:
                gpkgio.layer_feature_count(tmp)
            except Exception as exc:
                raise UserInputError(
                    tr('The resource "{title}" is not a readable GeoPackage.').format(title=resource.title)
                ) from exc
        return dest

    @staticmethod
    def _save_zip(resource: Resource, content: bytes, dest: Path) -> str:
        with atomic_path(dest) as tmp:
            tmp.write_bytes(content)
            try:
                with zipfile.ZipFile(tmp) as zf:
                    names = zf.namelist()
            except zipfile.BadZipFile as exc:
                raise UserInputError(
                    tr('The resource "{title}" is not a valid ZIP archive.').format(title=resource.title)
                ) from exc
        shp = [n for n in names if n.lower().endswith(".shp")]
        inner = [n for n in names if n.lower().endswith((".geojson", ".gpkg"))]
        if not shp and not inner:
            dest.unlink(missing_ok=True)
            raise UserInputError(
                tr(
                    'The archive "{title}" contains no shapefile (.shp), GeoJSON or GeoPackage. '
                    "Files inside: {names}."
                ).format(title=resource.title, names=", ".join(names[:10]))
            )
        target = (shp or inner)[0]
        if shp:
            base = target[:-4]
            have = {n.lower() for n in names}
            if (base + ".dbf").lower() not in have or (base + ".shx").lower() not in have:
                dest.unlink(missing_ok=True)
                raise UserInputError(
                    tr('The shapefile {name} in "{title}" lacks its .dbf or .shx companion file.').format(
                        name=target, title=resource.title
                    )
                )
        return f"/vsizip/{dest}/{target}"


def csv_to_points_gpkg(
    csv_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    layer: str = "points",
    source_url: str = "",
) -> Path:
    """Turn a CSV with longitude/latitude (or x/y) columns into a GeoPackage point layer (atomic).

    Coordinates within ±180/±90 are taken as WGS84, larger ones as Lambert-93 (EPSG:2154).
    """
    table = read_table(csv_path)
    xi, yi = table.column(LON_ALIASES), table.column(LAT_ALIASES)
    if xi is None or yi is None:
        missing = {}
        if xi is None:
            missing[tr("longitude / x")] = LON_ALIASES
        if yi is None:
            missing[tr("latitude / y")] = LAT_ALIASES
        from .tabular import missing_columns_message

        raise UserInputError(missing_columns_message(Path(csv_path).name, missing, table.header))
    names: list[str] = []
    for h in table.header:
        name = re.sub(r"\W+", "_", h.strip()) or "field"
        while name in names:
            name += "_"
        names.append(name)
    feats = []
    skipped = 0
    epsg = None
    for row in table.rows:
        x, y = parse_number(row[xi]), parse_number(row[yi])
        if x is None or y is None:
            skipped += 1
            continue
        this = 4326 if abs(x) <= 180 and abs(y) <= 90 else 2154
        epsg = epsg or this
        feats.append(
            {"geometry": {"type": "Point", "coordinates": [x, y]}, "properties": dict(zip(names, row))}
        )
    if not feats:
        raise UserInputError(
            tr("No row of {file} has usable coordinates in the columns {x} and {y}.").format(
                file=Path(csv_path).name, x=table.header[xi], y=table.header[yi]
            )
        )
    gpkgio.write_features_gpkg(
        dest,
        layer,
        feats,
        [(n, "str") for n in names],
        geometry_type="Point",
        epsg=epsg or 4326,
        metadata={
            "source_url": source_url,
            "encoding": table.encoding,
            "separator": table.separator,
            "skipped_rows": skipped,
        },
    )
    return Path(dest)
