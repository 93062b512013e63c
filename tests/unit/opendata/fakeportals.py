"""Loopback replicas of Opendatasoft Explore v2.1, data.gouv.fr API 1 and geo.api.gouv.fr.

They replay the real response layouts (checked against public documentation and captured
responses) over real data from ``../shared/data``:
- ODS catalog ``{"total_count", "results": [{"dataset_id", "dataset_uid", "has_records", "features",
  "metas": {"default": {...}}, "fields": [{"name", "label", "type", "annotations"}]}]}``; records
  ``{"total_count", "results"}`` with limit ≤ 100 and ``offset + limit ≤ 10000`` else HTTP 400
  ``InvalidRESTParameterError``; ``/exports/geojson`` with no cap. ``where`` supports the ODSQL
  used here: ``search("…")``, ``features = "geo"``, ``field = "v"``, ``field > n`` (and <, >=, <=),
  ``in_bbox(field, lat1, lon1, lat2, lon2)`` joined by AND.
- data.gouv.fr ``{"data", "page", "page_size", "total", "next_page", "previous_page"}``.
- geo.api.gouv.fr ``/communes?codeDepartement=..&format=geojson&geometry=contour`` and ``/communes/{code}``.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers import LoopbackServer, Reply, Request

API = "/api/explore/v2.1"


# --------------------------------------------------------------------------- Opendatasoft
@dataclass
class FakeDataset:
    dataset_id: str
    title: str
    records: list[dict[str, Any]]
    fields: list[dict[str, Any]]
    theme: list[str] = field(default_factory=list)
    license: str = "Open Database License (ODbL)"
    description: str = ""
    publisher: str = "Ville de Paris"
    modified: str = "2024-03-01T10:00:00+00:00"

    @property
    def geo_field(self) -> str | None:
        for t in ("geo_shape", "geo_point_2d"):
            for f in self.fields:
                if f["type"] == t:
                    return f["name"]
        return None

    def catalog_obj(self) -> dict[str, Any]:
        return {
            "visibility": "domain",
            "dataset_id": self.dataset_id,
            "dataset_uid": "da_" + format(abs(hash(self.dataset_id)) % 36**6, "x")[:6],
            "has_records": bool(self.records),
            "data_visible": True,
            "features": (["geo"] if self.geo_field else []) + ["analyze"],
            "metas": {
                "default": {
                    "title": self.title,
                    "description": self.description,
                    "theme": self.theme,
                    "keyword": [],
                    "license": self.license,
                    "license_url": "http://opendatacommons.org/licenses/odbl/",
                    "language": "fr",
                    "modified": self.modified,
                    "publisher": self.publisher,
                    "records_count": len(self.records),
                }
            },
            "fields": [
                {
                    "name": f["name"],
                    "label": f.get("label", f["name"]),
                    "type": f["type"],
                    "annotations": {},
                    "description": None,
                }
                for f in self.fields
            ],
        }


def _field_types(records: list[dict[str, Any]], geo: dict[str, str]) -> list[dict[str, Any]]:
    out = []
    for name, value in records[0].items() if records else []:
        if name in geo:
            t = geo[name]
        elif isinstance(value, bool):
            t = "text"
        elif isinstance(value, int):
            t = "int"
        elif isinstance(value, float):
            t = "double"
        else:
            t = "text"
        out.append({"name": name, "label": name.replace("_", " ").capitalize(), "type": t})
    return out


def dataset_from_records(dataset_id, title, records, geo: dict[str, str], **kw) -> FakeDataset:
    return FakeDataset(dataset_id, title, records, _field_types(records, geo), **kw)


def load_shared_datasets(shared: Path) -> dict[str, FakeDataset]:
    """The shared Paris files as v2.1 datasets (records in the v2.1 flat layout)."""
    od = shared / "opendata"
    trees = json.loads((od / "arbres_remarquables_ods_v21_results.json").read_text("utf-8"))
    velib = json.loads((od / "velib-emplacement-des-stations.geojson").read_text("utf-8"))
    velib_records = []
    for f in velib["features"]:
        p = dict(f["properties"])
        lat, lon = p.pop("coordonnees_geo")
        velib_records.append({**p, "coordonnees_geo": {"lon": lon, "lat": lat}})
    sanis = json.loads((od / "sanisettesparis_ods_v1_records.json").read_text("utf-8"))
    sanis_records = []
    for r in sanis:
        p = dict(r["fields"])
        lat, lon = p.pop("geo_point_2d")
        shape = p.pop("geo_shape")
        sanis_records.append(
            {
                **p,
                "geo_shape": {"type": "Feature", "geometry": shape, "properties": {}},
                "geo_point_2d": {"lon": lon, "lat": lat},
            }
        )
    arr = json.loads((shared / "admin" / "paris_arrondissements.geojson").read_text("utf-8"))
    arr_records = []
    for f in arr["features"]:
        p = {k: v for k, v in f["properties"].items() if k != "geom_x_y"}
        arr_records.append(
            {**p, "geometry": {"type": "Feature", "geometry": f["geometry"], "properties": {}}}
        )
    return {
        d.dataset_id: d
        for d in (
            dataset_from_records(
                "les-arbres",
                "Les arbres remarquables",
                trees,
                {"geo_point_2d": "geo_point_2d"},
                theme=["Environnement"],
            ),
            dataset_from_records(
                "velib-emplacement-des-stations",
                "Vélib' - Emplacement des stations",
                velib_records,
                {"coordonnees_geo": "geo_point_2d"},
                theme=["Mobilité et Transport"],
            ),
            dataset_from_records(
                "sanisettesparis",
                "Sanisettes (toilettes publiques)",
                sanis_records,
                {"geo_shape": "geo_shape", "geo_point_2d": "geo_point_2d"},
                theme=["Services"],
            ),
            dataset_from_records(
                "arrondissements",
                "Arrondissements",
                arr_records,
                {"geometry": "geo_shape"},
                theme=["Administration"],
            ),
        )
    }


def generated_dataset(dataset_id: str, n: int, title: str = "Points générés") -> FakeDataset:
    """``n`` synthetic points over Paris (clearly labelled as generated)."""
    recs = [
        {
            "id": i,
            "categorie": "A" if i % 3 else "B",
            "geo_point_2d": {"lon": 2.25 + (i % 1000) * 0.00018, "lat": 48.82 + (i // 1000 % 100) * 0.0008},
        }
        for i in range(n)
    ]
    return dataset_from_records(dataset_id, title, recs, {"geo_point_2d": "geo_point_2d"}, theme=["Test"])


# -- tiny ODSQL ---------------------------------------------------------------------
_SPLIT_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


def _norm(s: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).lower()


def _geom_points(rec: dict[str, Any], name: str):
    v = rec.get(name)
    if isinstance(v, dict) and "lon" in v:
        yield v["lon"], v["lat"]
    elif isinstance(v, dict) and v.get("type") == "Feature":
        yield from _positions(v["geometry"]["coordinates"])


def _positions(c):
    if isinstance(c[0], (int, float)):
        yield c[0], c[1]
    else:
        for s in c:
            yield from _positions(s)


def _match_clause(clause: str, rec: dict[str, Any] | None, ds: FakeDataset) -> bool:
    clause = clause.strip()
    while clause.startswith("(") and clause.endswith(")"):
        clause = clause[1:-1].strip()
    m = re.fullmatch(r'search\((?:\w+\s*,\s*)?"(.*)"\)', clause)
    if m:
        text = _norm(m.group(1))
        hay = _norm(
            json.dumps(rec, ensure_ascii=False)
            if rec is not None
            else ds.title + " " + ds.description + " " + ds.dataset_id
        )
        return all(t in hay for t in text.split())
    m = re.fullmatch(
        r"in_bbox\((\w+)\s*,\s*([-\d.eE]+)\s*,\s*([-\d.eE]+)\s*,\s*([-\d.eE]+)\s*,\s*([-\d.eE]+)\)", clause
    )
    if m:
        name = m.group(1)
        lat1, lon1, lat2, lon2 = (float(m.group(i)) for i in range(2, 6))
        return any(
            min(lon1, lon2) <= x <= max(lon1, lon2) and min(lat1, lat2) <= y <= max(lat1, lat2)
            for x, y in _geom_points(rec or {}, name)
        )
    m = re.fullmatch(r"(\w+)\s*(=|>=|<=|>|<|!=)\s*(.+)", clause)
    if m:
        name, op, raw = m.groups()
        target = shlex.split(raw)[0] if raw.strip().startswith(('"', "'")) else float(raw)
        if rec is None:
            value = ds.catalog_obj()["features"] if name == "features" else None
            return target in value if isinstance(value, list) else False
        value = rec.get(name)
        if value is None:
            return False
        if isinstance(target, str):
            value = str(value)
        else:
            value = float(value)
        return {
            "=": value == target,
            "!=": value != target,
            ">": value > target,
            "<": value < target,
            ">=": value >= target,
            "<=": value <= target,
        }[op]
    raise ValueError(f"unsupported ODSQL clause: {clause}")


def odsql_filter(where: str | None, rec: dict[str, Any] | None, ds: FakeDataset) -> bool:
    if not where:
        return True
    return all(_match_clause(c, rec, ds) for c in _SPLIT_AND.split(where))


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error_code": code, "message": message})


def _odsql_error(exc: Exception) -> Reply:
    """What the real portal answers to a where clause it cannot parse (HTTP 400, ODSQLError)."""
    return _error(
        400, "ODSQLError", f"ODSQL query is malformed: {exc}. Clause(s) containing the error(s): where."
    )


def record_to_feature(rec: dict[str, Any], ds: FakeDataset) -> dict[str, Any]:
    geo = ds.geo_field
    geom = None
    if geo:
        v = rec.get(geo)
        if isinstance(v, dict) and v.get("type") == "Feature":
            geom = v["geometry"]
        elif isinstance(v, dict) and "lon" in v:
            geom = {"type": "Point", "coordinates": [v["lon"], v["lat"]]}
        elif isinstance(v, dict) and "coordinates" in v:  # raw (possibly broken) geometry
            geom = v
    props = {k: v for k, v in rec.items() if not (isinstance(v, dict) and v.get("type") == "Feature")}
    return {"type": "Feature", "geometry": geom, "properties": props}


class FakeOds:
    """An Opendatasoft portal on a :class:`LoopbackServer`."""

    def __init__(self, srv: LoopbackServer, datasets: dict[str, FakeDataset]) -> None:
        self.srv = srv
        self.datasets = datasets
        self._export_cache: dict[tuple[str, str], bytes] = {}
        srv.route(API + r"/catalog/datasets/?", self.catalog)
        srv.route(API + r"/catalog/datasets/([^/]+)/?", self.dataset)
        srv.route(API + r"/catalog/datasets/([^/]+)/records/?", self.records)
        srv.route(API + r"/catalog/datasets/([^/]+)/exports/geojson/?", self.export)

    @property
    def url(self) -> str:
        return self.srv.url

    def _ds(self, req: Request) -> FakeDataset | None:
        return self.datasets.get(req.path.split("/catalog/datasets/")[1].split("/")[0])

    def catalog(self, req: Request) -> Reply:
        limit = int(req.arg("limit", "10"))
        if limit > 100:
            return _error(
                400,
                "InvalidRESTParameterError",
                f"Invalid value for limit API parameter: {limit} was found but -1 <= limit <= 100 is expected.",
            )
        where = req.arg("where")
        refine = req.arg("refine")
        out = []
        for ds in self.datasets.values():
            if not odsql_filter(where, None, ds):
                continue
            if refine and refine.startswith("theme:") and refine[6:].strip('"') not in ds.theme:
                continue
            out.append(ds.catalog_obj())
        return Reply(200, {"total_count": len(out), "results": out[:limit]})

    def dataset(self, req: Request) -> Reply:
        ds = self._ds(req)
        if ds is None:
            return _error(404, "NotFound", "Unknown dataset: " + req.path.rsplit("/", 1)[-1])
        return Reply(200, ds.catalog_obj())

    def records(self, req: Request) -> Reply:
        ds = self._ds(req)
        if ds is None:
            return _error(404, "NotFound", "Unknown dataset")
        limit, offset = int(req.arg("limit", "10")), int(req.arg("offset", "0"))
        if limit > 100:
            return _error(
                400,
                "InvalidRESTParameterError",
                f"Invalid value for limit API parameter: {limit} was found but -1 <= limit <= 100 is expected.",
            )
        if offset + limit > 10000:
            return _error(
                400,
                "InvalidRESTParameterError",
                f"Invalid value for sum of offset + limit API parameter: {offset + limit} was found but <= 10000 is expected",
            )
        try:
            rows = [r for r in ds.records if odsql_filter(req.arg("where"), r, ds)]
        except ValueError as exc:
            return _odsql_error(exc)
        return Reply(200, {"total_count": len(rows), "results": rows[offset : offset + limit]})

    def export(self, req: Request) -> Reply:
        ds = self._ds(req)
        if ds is None:
            return _error(404, "NotFound", "Unknown dataset")
        key = (ds.dataset_id, req.arg("where") or "")
        body = self._export_cache.get(key)
        if body is None:
            try:
                feats = [
                    record_to_feature(r, ds) for r in ds.records if odsql_filter(req.arg("where"), r, ds)
                ]
            except ValueError as exc:
                return _odsql_error(exc)
            body = json.dumps({"type": "FeatureCollection", "features": feats}).encode("utf-8")
            self._export_cache[key] = body
        return Reply(200, body, content_type="application/geo+json")


# --------------------------------------------------------------------------- data.gouv.fr
class FakeDataGouv:
    """data.gouv.fr API 1 with datasets whose resources are files served by the same server."""

    def __init__(self, srv: LoopbackServer, datasets: list[dict[str, Any]]) -> None:
        self.srv = srv
        self.datasets = datasets
        srv.route(r"/api/1/datasets/?", self.search)
        srv.route(r"/api/1/datasets/([^/]+)/?", self.one)

    def search(self, req: Request) -> Reply:
        q = _norm(req.arg("q", ""))
        size = int(req.arg("page_size", "20"))
        page = int(req.arg("page", "1"))
        hits = [
            d
            for d in self.datasets
            if all(t in _norm(d["title"] + " " + d["description"]) for t in q.split())
        ]
        data = hits[(page - 1) * size : page * size]
        nxt = f"{self.srv.url}/api/1/datasets/?q={q}&page={page + 1}" if page * size < len(hits) else None
        return Reply(
            200,
            {
                "data": data,
                "page": page,
                "page_size": size,
                "total": len(hits),
                "next_page": nxt,
                "previous_page": None,
            },
        )

    def one(self, req: Request) -> Reply:
        ds_id = req.path.rstrip("/").rsplit("/", 1)[-1]
        for d in self.datasets:
            if ds_id in (d["id"], d["slug"]):
                return Reply(200, d)
        return Reply(404, {"message": "Not found", "status": 404})


def datagouv_dataset(
    ds_id: str, title: str, resources: list[dict[str, Any]], description: str = ""
) -> dict[str, Any]:
    return {
        "id": ds_id,
        "title": title,
        "slug": re.sub(r"\W+", "-", _norm(title)).strip("-"),
        "description": description,
        "license": "lov2",
        "last_modified": "2024-02-01T00:00:00",
        "organization": {"name": "Métropole du Grand Paris", "slug": "metropole-du-grand-paris"},
        "page": f"https://www.data.gouv.fr/fr/datasets/{ds_id}/",
        "resources": [
            {
                "id": r["id"],
                "title": r["title"],
                "format": r["format"],
                "url": r["url"],
                "filesize": r.get("filesize"),
                "mime": r.get("mime"),
                "filetype": "file",
                "type": "main",
                "last_modified": "2024-02-01T00:00:00",
            }
            for r in resources
        ],
    }


# --------------------------------------------------------------------------- geo.api.gouv.fr
class FakeGeoApi:
    """geo.api.gouv.fr communes with contours, from ``communes-ile-de-france.geojson``."""

    def __init__(self, srv: LoopbackServer, shared: Path) -> None:
        fc = json.loads((shared / "admin" / "communes-ile-de-france.geojson").read_text("utf-8"))
        self.features = fc["features"]
        self.by_code = {f["properties"]["code"]: f for f in self.features}
        srv.route(r"/communes/?", self.communes)
        srv.route(r"/communes/(\d[\dAB]\d{3})", self.commune)

    @staticmethod
    def _feature(f: dict[str, Any]) -> dict[str, Any]:
        p = f["properties"]
        return {
            "type": "Feature",
            "geometry": f["geometry"],
            "properties": {"code": p["code"], "nom": p["nom"], "codeDepartement": p["code"][:2]},
        }

    def communes(self, req: Request) -> Reply:
        if req.arg("format") != "geojson" or req.arg("geometry") != "contour":
            return Reply(
                400, {"code": 400, "message": "this fake only serves format=geojson&geometry=contour"}
            )
        dep = req.arg("codeDepartement")
        feats = [
            self._feature(f) for f in self.features if dep is None or f["properties"]["code"].startswith(dep)
        ]
        return Reply(200, {"type": "FeatureCollection", "features": feats})

    def commune(self, req: Request) -> Reply:
        f = self.by_code.get(req.path.rsplit("/", 1)[-1])
        if f is None:
            return Reply(404, {"code": 404, "message": "Commune non trouvée"})
        return Reply(200, self._feature(f))
