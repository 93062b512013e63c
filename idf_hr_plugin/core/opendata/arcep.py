"""ARCEP FttH (fibre) deployment: loaders, coverage per commune/EPT/MGP and quarter, GeoPackage output.

Columns are found BY NAME through configurable aliases (:data:`DEFAULT_ALIASES`), never by
position, and what could not be found is reported by name. Two layouts are understood:

- *wide* (ARCEP observatory 2017-2018, ``ftthCommunes_IDF.csv``): ``Code commune, Champ, T3 2017,
  T4 2017, T1 2018`` with one row per commune where ``Champ`` = ``Locaux Raccordables``;
- *long*: one row per commune and quarter (``code_insee, trimestre, nb_locaux_raccordables
  [, nb_locaux]``).

The denominator (premises) is ``Logements + Établissements`` from ``communes_IDF.csv`` (numbers
padded with spaces, ``-`` = 0) or a premises column of the long file. Coverage is capped at 100 %
(the count of capped rows is reported: ARCEP counts and INSEE premises are not from the same
year). Aggregates are sums of numerators over sums of denominators, never means of rates.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import UserInputError
from ..i18n import tr
from . import gpkgio
from ._util import norm_text, parse_number, utc_now
from .tabular import Table, find_column, missing_columns_message, read_table, require_columns

DEFAULT_ALIASES: dict[str, tuple[str, ...]] = {
    "insee": (
        "Code commune",
        "code_insee",
        "INSEE_COM",
        "insee",
        "code_commune",
        "CodeInsee",
        "Code arrondissement",
        "codgeo",
        "com",
    ),
    "name": ("Nom commune", "nom_commune", "nom", "libelle", "commune"),
    "field": ("Champ",),
    "connectable": (
        "Locaux Raccordables",
        "Nb locaux raccordables",
        "nb_locaux_raccordables",
        "nb_logements_raccordables",
        "locaux_raccordables",
        "raccordables",
        "ftth",
    ),
    "premises": (
        "Nb locaux",
        "nb_locaux",
        "locaux",
        "nb_locaux_total",
        "Meilleure estimation des locaux",
        "premises",
    ),
    "housing": ("Logements", "nb_logements"),
    "businesses": ("Établissements", "Etablissements", "nb_etablissements"),
    "quarter": ("trimestre", "quarter", "periode", "Période"),
}

QUARTER_RE = re.compile(r"^\s*T([1-4])\s*[-_ ]?\s*((?:19|20)\d\d)\s*$", re.IGNORECASE)
QUARTER_RE_ISO = re.compile(r"^\s*((?:19|20)\d\d)\s*[-_ ]?\s*[TQ]([1-4])\s*$", re.IGNORECASE)

# Class breaks (percent) and French legend labels, like the MGP observatory choropleth.
CLASS_BREAKS: tuple[tuple[float, float, str, str], ...] = (
    (0, 10, "Moins de 10 %", "#f7fbff"),
    (10, 25, "De 10 à 25 %", "#c6dbef"),
    (25, 50, "De 25 à 50 %", "#6baed6"),
    (50, 80, "De 50 à 80 %", "#2171b5"),
    (80, 100.0001, "80 % et plus", "#08306b"),
)

# Paris, Lyon, Marseille: arrondissement codes → commune code.
PLM = {"75056": range(75101, 75121), "69123": range(69381, 69390), "13055": range(13201, 13217)}


def parse_quarter(label: str) -> tuple[int, int] | None:
    """``"T1 2018"`` / ``"2018-T1"`` / ``"2018Q1"`` → (2018, 1); None otherwise."""
    m = QUARTER_RE.match(str(label))
    if m:
        return int(m.group(2)), int(m.group(1))
    m = QUARTER_RE_ISO.match(str(label))
    if m:
        return int(m.group(1)), int(m.group(2))
    return None


def quarter_label(year: int, q: int) -> str:
    return f"T{q} {year}"


def quarter_date(label: str) -> str:
    """ISO date of the first day of a quarter (for QGIS temporal properties): T2 2018 → 2018-04-01."""
    pq = parse_quarter(label)
    if pq is None:
        raise UserInputError(tr('{label} is not a quarter like "T1 2018".').format(label=label))
    return f"{pq[0]:04d}-{3 * (pq[1] - 1) + 1:02d}-01"


def class_index(pct: float | None) -> int | None:
    if pct is None:
        return None
    for i, (lo, hi, _, _) in enumerate(CLASS_BREAKS):
        if lo <= pct < hi:
            return i
    return len(CLASS_BREAKS) - 1 if pct >= 100 else 0


def class_label(pct: float | None) -> str:
    i = class_index(pct)
    return "" if i is None else CLASS_BREAKS[i][2]


@dataclass
class FtthData:
    """Connectable premises per commune (INSEE) and quarter label."""

    connectable: dict[str, dict[str, int]]  # insee → quarter → count
    quarters: list[str]  # chronological
    premises: dict[str, int] = field(default_factory=dict)  # from a long file's premises column, if any
    names: dict[str, str] = field(default_factory=dict)
    source: str = ""

    def value(self, insee: str, quarter: str) -> int | None:
        return self.connectable.get(insee, {}).get(quarter)


@dataclass
class PremisesInfo:
    insee: str
    nom: str
    logements: int
    etablissements: int

    @property
    def premises(self) -> int:
        return self.logements + self.etablissements


def _aliases(overrides: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    merged = dict(DEFAULT_ALIASES)
    for k, v in (overrides or {}).items():
        merged[k] = tuple(v) + tuple(a for a in merged.get(k, ()) if a not in v)
    return merged


def _header_finder(aliases: Sequence[str]):
    targets = {norm_text(a) for a in aliases}
    return lambda cells: any(norm_text(c) in targets for c in cells if c)


def _read(path: str | os.PathLike[str], al: Mapping[str, Sequence[str]]) -> Table:
    """Read the table whose header holds an INSEE column; say clearly when no such column exists."""
    try:
        return read_table(path, is_header=_header_finder(al["insee"]))
    except UserInputError:
        table = read_table(path)  # a header exists, but without any INSEE column name we know
        raise UserInputError(
            missing_columns_message(Path(path).name, {tr("INSEE code"): al["insee"]}, table.header)
        ) from None


def _sort_quarters(labels: Iterable[str]) -> list[str]:
    return sorted(set(labels), key=lambda q: parse_quarter(q) or (0, 0))


def load_ftth(path: str | os.PathLike[str], aliases: Mapping[str, Sequence[str]] | None = None) -> FtthData:
    """Load an ARCEP FttH deployment file (CSV/XLSX, wide or long layout) — see module docstring."""
    al = _aliases(aliases)
    table = _read(path, al)
    ci = table.column(al["insee"])
    quarter_cols = [(i, h) for i, h in enumerate(table.header) if parse_quarter(h)]
    if quarter_cols:
        return _load_wide(table, ci, quarter_cols, al)
    return _load_long(table, ci, al)


def _load_wide(table: Table, ci: int, quarter_cols, al) -> FtthData:
    fi = table.column(al["field"])
    if fi is None and _has_repeated_codes(table, ci):
        # Several rows per commune and no column saying which one holds the counts: reading them all
        # would let the last row (e.g. the coverage band) overwrite the connectable premises.
        raise UserInputError(
            missing_columns_message(
                table.path.name,
                {tr("row selector (which rows hold the connectable premises)"): al["field"]},
                table.header,
            )
        )
    wanted = {norm_text(a) for a in al["connectable"]}
    data: dict[str, dict[str, int]] = {}
    for row in table.rows:
        if fi is not None and norm_text(row[fi]) not in wanted:
            continue
        code = _insee(row[ci])
        if not code:
            continue
        for i, label in quarter_cols:
            v = parse_number(row[i])
            if v is not None:
                data.setdefault(code, {})[_canon_quarter(label)] = int(v)
    if fi is not None and not data:
        raise UserInputError(
            missing_columns_message(
                table.path.name,
                {tr("rows of connectable premises (column Champ)"): al["connectable"]},
                table.header,
            )
        )
    quarters = _sort_quarters(_canon_quarter(h) for _, h in quarter_cols)
    check_counts(data, table.path.name)
    return FtthData(data, quarters, source=str(table.path))


def _has_repeated_codes(table: Table, ci: int) -> bool:
    seen: set[str] = set()
    for row in table.rows:
        code = _insee(row[ci])
        if code in seen:
            return True
        if code:
            seen.add(code)
    return False


# Paris had about 1.5 million premises (Logements + Établissements) and over 1.4 million of them
# connectable in 2018; a few thousand at most means the file is not a count of connectable premises.
PARIS_MIN_CONNECTABLE = 10_000
# Below this many communes with non-zero values, "every value <= 100" may simply be small villages.
BAND_CHECK_MIN_COMMUNES = 20


def check_counts(data: Mapping[str, Mapping[str, int]], file: str) -> None:
    """Refuse connectable-premises figures that cannot be counts (bands, percentages, Paris far too low)."""
    paris = data.get("75056") or {}
    if paris and max(paris.values()) < PARIS_MIN_CONNECTABLE:
        q, v = max(paris.items(), key=lambda kv: kv[1])
        raise UserInputError(
            tr(
                "{file} gives Paris (75056) only {n} connectable premises ({q}), whereas Paris has about "
                "1.5 million premises: these figures are not counts of connectable premises. Check the "
                "row selector (Champ) and the quarter columns of the file."
            ).format(file=file, n=v, q=q)
        )
    nonzero = [c for c, qs in data.items() if any(qs.values())]
    if len(nonzero) >= BAND_CHECK_MIN_COMMUNES and all(v <= 100 for qs in data.values() for v in qs.values()):
        raise UserInputError(
            tr(
                "Every connectable-premises value of {file} is between 0 and 100 for {n} communes: they look "
                "like percentages or coverage bands, not counts of premises. Check the row selector (Champ) "
                "and that the file is the deployment file (Locaux Raccordables)."
            ).format(file=file, n=len(nonzero))
        )


def _load_long(table: Table, ci: int | None, al) -> FtthData:
    qi, ri, pi = table.column(al["quarter"]), table.column(al["connectable"]), table.column(al["premises"])
    ni = table.column(al["name"])
    require_columns(
        table,
        table.path.name,
        [
            (ci, tr("INSEE code"), al["insee"]),
            (ri, tr("connectable premises"), al["connectable"]),
            (qi, tr('quarter (or quarter columns like "T1 2018")'), al["quarter"]),
        ],
    )
    data: dict[str, dict[str, int]] = {}
    premises: dict[str, int] = {}
    names: dict[str, str] = {}
    quarters: set[str] = set()
    for row in table.rows:
        code = _insee(row[ci])
        label = _canon_quarter(row[qi])
        v = parse_number(row[ri])
        if not code or v is None or not parse_quarter(label):
            continue
        data.setdefault(code, {})[label] = int(v)
        quarters.add(label)
        if pi is not None and (p := parse_number(row[pi])) is not None:
            premises[code] = int(p)
        if ni is not None:
            names[code] = row[ni]
    check_counts(data, table.path.name)
    return FtthData(data, _sort_quarters(quarters), premises, names, str(table.path))


def _canon_quarter(label: str) -> str:
    pq = parse_quarter(label)
    return quarter_label(*pq) if pq else str(label).strip()


def _insee(value: str) -> str:
    v = str(value).strip()
    if v.isdigit() and len(v) == 4:
        v = "0" + v
    return v.upper()


def load_premises(
    path: str | os.PathLike[str], aliases: Mapping[str, Sequence[str]] | None = None
) -> dict[str, PremisesInfo]:
    """Premises per commune from ARCEP ``communes_*.csv``: Logements + Établissements."""
    al = _aliases(aliases)
    table = _read(path, al)
    ci, hi, bi, ni = (table.column(al[k]) for k in ("insee", "housing", "businesses", "name"))
    require_columns(
        table,
        Path(path).name,
        [
            (ci, tr("INSEE code"), al["insee"]),
            (hi, tr("housing (Logements)"), al["housing"]),
            (bi, tr("businesses (Établissements)"), al["businesses"]),
        ],
    )
    out = {}
    for row in table.rows:
        code = _insee(row[ci])
        if not code:
            continue
        out[code] = PremisesInfo(
            code,
            row[ni] if ni is not None else "",
            int(parse_number(row[hi]) or 0),
            int(parse_number(row[bi]) or 0),
        )
    return out


def merge_arrondissements(communes: FtthData, arrondissements: FtthData) -> FtthData:
    """Fill Paris/Lyon/Marseille from arrondissement rows (summed) where the commune row is absent."""
    merged = {k: dict(v) for k, v in communes.connectable.items()}
    for city, codes in PLM.items():
        if city in merged:
            continue
        rows = [arrondissements.connectable.get(str(c)) for c in codes]
        rows = [r for r in rows if r]
        if not rows:
            continue
        merged[city] = {q: sum(r.get(q, 0) for r in rows) for q in arrondissements.quarters}
    return replace(
        communes, connectable=merged, quarters=_sort_quarters([*communes.quarters, *arrondissements.quarters])
    )


@dataclass
class CoverageRow:
    level: str  # "commune" | "ept" | "mgp"
    code: str  # INSEE, EPT id or "MGP"
    nom: str
    ept_id: str
    ept_nom: str
    quarter: str
    quarter_date: str
    connectable: int
    premises: int
    coverage_pct: float
    class_label: str
    capped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class CoverageResult:
    communes: list[CoverageRow]
    epts: list[CoverageRow]
    mgp: list[CoverageRow]
    quarters: list[str]
    capped_count: int
    missing_connectable: list[str]  # INSEE codes absent from the FttH file
    missing_premises: list[str]  # INSEE codes without a premises count

    def warnings(self) -> list[str]:
        out = []
        if self.capped_count:
            out.append(
                tr(
                    "{n} commune-quarter values had more connectable premises than premises and were capped "
                    "at 100 % (the two counts come from different years)."
                ).format(n=self.capped_count)
            )
        if self.missing_connectable:
            out.append(
                tr("No FttH figures for {n} communes: {codes}.").format(
                    n=len(self.missing_connectable), codes=", ".join(self.missing_connectable[:10])
                )
            )
        if self.missing_premises:
            out.append(
                tr("No premises count for {n} communes: {codes}.").format(
                    n=len(self.missing_premises), codes=", ".join(self.missing_premises[:10])
                )
            )
        return out


def _row(level, code, nom, ept_id, ept_nom, quarter, num, den) -> CoverageRow:
    rate = num / den if den else 0.0
    capped = rate > 1
    pct = round(min(rate, 1.0) * 100.0, 4)
    return CoverageRow(
        level,
        code,
        nom,
        ept_id,
        ept_nom,
        quarter,
        quarter_date(quarter),
        num,
        den,
        pct,
        class_label(pct),
        capped,
    )


def compute_coverage(
    ftth: FtthData,
    premises: Mapping[str, PremisesInfo] | Mapping[str, int] | None,
    communes: Iterable[Any],
    quarters: Sequence[str] | None = None,
) -> CoverageResult:
    """Coverage per commune and quarter, and aggregated per EPT and for the whole set (MGP).

    ``communes`` are objects with ``insee, nom, ept_id, ept_nom`` (e.g. ``Boundaries.communes``).
    ``premises`` maps INSEE → :class:`PremisesInfo` or int; missing ones fall back to ``ftth.premises``.
    """
    quarters = [_canon_quarter(q) for q in (quarters or ftth.quarters)]
    rows: list[CoverageRow] = []
    missing_c: list[str] = []
    missing_p: list[str] = []
    capped = 0
    communes = list(communes)
    for c in communes:
        p = (premises or {}).get(c.insee)
        den = p.premises if isinstance(p, PremisesInfo) else p
        if den is None:
            den = ftth.premises.get(c.insee)
        if c.insee not in ftth.connectable:
            missing_c.append(c.insee)
            continue
        if not den:
            missing_p.append(c.insee)
            continue
        for q in quarters:
            num = ftth.value(c.insee, q)
            if num is None:
                continue
            r = _row("commune", c.insee, c.nom, c.ept_id, c.ept_nom, q, num, int(den))
            capped += r.capped
            rows.append(r)
    _check_rates(rows)
    epts = aggregate(rows, "ept")
    mgp = aggregate(rows, "mgp")
    return CoverageResult(rows, epts, mgp, quarters, capped, missing_c, missing_p)


# ARCEP and INSEE counts differ by year, so a commune can exceed 100 % a little (the real 2017-2018
# files peak at 148 %); many communes far above means the premises do not match the FttH file.
IMPOSSIBLE_RATE = 1.5
IMPOSSIBLE_SHARE = 0.1


def _check_rates(rows: Sequence[CoverageRow]) -> None:
    over = [r for r in rows if r.premises and r.connectable > IMPOSSIBLE_RATE * r.premises]
    communes = {r.code for r in over}
    if len(communes) >= 5 and len(over) > IMPOSSIBLE_SHARE * len(rows):
        ex = over[0]
        raise UserInputError(
            tr(
                "{n} communes have more than {pct} % of their premises connectable (e.g. {nom} {code}, {q}: "
                "{num} connectable for {den} premises): the premises file does not match the FttH file. "
                "Check that the premises are Logements + Établissements of the same communes."
            ).format(
                n=len(communes),
                pct=int(IMPOSSIBLE_RATE * 100),
                nom=ex.nom,
                code=ex.code,
                q=ex.quarter,
                num=ex.connectable,
                den=ex.premises,
            )
        )


def aggregate(rows: Sequence[CoverageRow], level: str) -> list[CoverageRow]:
    """Sum numerators and denominators of commune rows per EPT (``"ept"``) or overall (``"mgp"``)."""
    groups: dict[tuple[str, str], list[CoverageRow]] = {}
    for r in rows:
        key = (r.ept_id if level == "ept" else "MGP", r.quarter)
        groups.setdefault(key, []).append(r)
    out = []
    for (gid, q), members in groups.items():
        num = sum(m.connectable for m in members)
        den = sum(m.premises for m in members)
        nom = members[0].ept_nom if level == "ept" else "Métropole du Grand Paris"
        out.append(
            _row(level, gid, nom, gid if level == "ept" else "", nom if level == "ept" else "", q, num, den)
        )
    return sorted(out, key=lambda r: (r.code, parse_quarter(r.quarter) or (0, 0)))


COVERAGE_FIELDS = (
    ("insee", "str"),
    ("nom", "str"),
    ("ept_id", "str"),
    ("ept_nom", "str"),
    ("quarter", "str"),
    ("quarter_date", "date"),
    ("connectable", "int"),
    ("premises", "int"),
    ("coverage_pct", "real"),
    ("class_label", "str"),
    ("class_index", "int"),
)


def write_coverage_gpkg(
    result: CoverageResult,
    boundaries: Any,
    dest: str | os.PathLike[str],
    level: str = "commune",
    layer: str | None = None,
    source: str = "ARCEP, Le marché du haut et très haut débit fixe (déploiements) — Licence Ouverte",
) -> Path:
    """Write coverage rows joined to boundaries (one feature per unit and quarter) to a GeoPackage (atomic).

    ``level`` is ``"commune"`` (geometry of the commune) or ``"ept"`` (dissolved EPT geometry).
    Fields: insee, nom, ept_id, ept_nom, quarter, quarter_date, connectable, premises, coverage_pct,
    class_label, class_index.
    """
    rows = result.communes if level == "commune" else result.epts
    geoms: dict[str, Any] = {}
    if level == "commune":
        geoms = {c.insee: c.geometry for c in boundaries.communes}
    else:
        geoms = {e.id: boundaries.ept_geometry(e.id) for e in boundaries.epts}
    feats = [
        {
            "geometry": geoms.get(r.code),
            "properties": {
                "insee": r.code if level == "commune" else "",
                "nom": r.nom,
                "ept_id": r.ept_id,
                "ept_nom": r.ept_nom,
                "quarter": r.quarter,
                "quarter_date": r.quarter_date,
                "connectable": r.connectable,
                "premises": r.premises,
                "coverage_pct": r.coverage_pct,
                "class_label": r.class_label,
                "class_index": class_index(r.coverage_pct),
            },
        }
        for r in rows
        if geoms.get(r.code)
    ]
    if not feats:
        raise UserInputError(
            tr(
                "No coverage value could be joined to the boundaries: check that the FttH file covers the MGP."
            )
        )
    meta = {"source_url": source, "retrieved_at": utc_now().isoformat(), "capped": result.capped_count}
    gpkgio.write_features_gpkg(dest, layer or f"ftth_coverage_{level}", feats, COVERAGE_FIELDS, metadata=meta)
    return Path(dest)


# -- building-level (IPE) files -----------------------------------------------------------------
IPE_ALIASES: dict[str, tuple[str, ...]] = {
    "x": ("x", "lon", "longitude", "CoordonneeImmeubleX", "coord_x", "imb_x"),
    "y": ("y", "lat", "latitude", "CoordonneeImmeubleY", "coord_y", "imb_y"),
    "state": ("imb_etat", "EtatImmeuble", "etat_immeuble", "etat"),
    "id": ("imb_id", "IdentifiantImmeuble", "id_immeuble", "id"),
    "insee": ("code_insee", "CodeInsee", "insee", "Code commune"),
}


@dataclass
class IpeResult:
    path: Path
    feature_count: int
    states: dict[str, int]
    epsg: int
    skipped_rows: int


def write_ipe_gpkg(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    aliases: Mapping[str, Sequence[str]] | None = None,
    layer: str = "ftth_buildings",
) -> IpeResult:
    """Building-level deployment file (IPE: coordinates, ``imb_etat``…) → point GeoPackage (atomic).

    Coordinates within ±180/±90 are read as WGS84, else as Lambert-93.
    """
    al = dict(IPE_ALIASES)
    for k, v in (aliases or {}).items():
        al[k] = tuple(v) + al.get(k, ())
    table = read_table(src, is_header=lambda cells: find_column(cells, al["x"]) is not None)
    xi, yi, si = table.column(al["x"]), table.column(al["y"]), table.column(al["state"])
    require_columns(
        table,
        Path(src).name,
        [
            (xi, "x / longitude", al["x"]),
            (yi, "y / latitude", al["y"]),
            (si, tr("building state"), al["state"]),
        ],
    )
    ii, ci = table.column(al["id"]), table.column(al["insee"])
    feats, states, skipped, epsg = [], {}, 0, None
    for row in table.rows:
        x, y = parse_number(row[xi]), parse_number(row[yi])
        if x is None or y is None:
            skipped += 1
            continue
        epsg = epsg or (4326 if abs(x) <= 180 and abs(y) <= 90 else 2154)
        state = row[si]
        states[state] = states.get(state, 0) + 1
        feats.append(
            {
                "geometry": {"type": "Point", "coordinates": [x, y]},
                "properties": {
                    "imb_id": row[ii] if ii is not None else "",
                    "imb_etat": state,
                    "code_insee": row[ci] if ci is not None else "",
                },
            }
        )
    if not feats:
        raise UserInputError(tr("No building of {file} has usable coordinates.").format(file=Path(src).name))
    fields = [("imb_id", "str"), ("imb_etat", "str"), ("code_insee", "str")]
    gpkgio.write_features_gpkg(dest, layer, feats, fields, geometry_type="Point", epsg=epsg or 4326)
    return IpeResult(Path(dest), len(feats), states, epsg or 4326, skipped)
