"""Small helpers shared by the open-data modules: text matching, GeoJSON checks, atomic files."""

from __future__ import annotations

import difflib
import math
import os
import re
import shutil
import unicodedata
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..tempfiles import remove_stale_temps, remove_with_sidecars, temp_path

_PUNCT = re.compile(r"[^a-z0-9]+")
_ABBREV = {"st": "saint", "ste": "sainte"}


def norm_text(text: str) -> str:
    """Lower-case, accent-free, punctuation-free text with ``st``/``ste`` expanded (for fuzzy lookups)."""
    decomposed = unicodedata.normalize("NFKD", str(text))
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    ascii_text = ascii_text.replace("œ", "oe").replace("æ", "ae")
    tokens = [t for t in _PUNCT.split(ascii_text) if t]
    return " ".join(_ABBREV.get(t, t) if len(tokens) > 1 else t for t in tokens)


def best_matches(query: str, names: Sequence[str], limit: int = 5) -> list[int]:
    """Indexes of ``names`` matching ``query``, best first (exact, token subset, prefix, close spelling)."""
    q = norm_text(query)
    if not q:
        return []
    normed = [norm_text(n) for n in names]
    exact = [i for i, n in enumerate(normed) if n == q]
    if exact:
        return exact
    q_tokens = q.split()
    subset = [i for i, n in enumerate(normed) if all(t in n.split() for t in q_tokens)]
    if subset:
        return sorted(subset, key=lambda i: len(normed[i]))[:limit]
    prefix = [i for i, n in enumerate(normed) if n.startswith(q)]
    if prefix:
        return sorted(prefix, key=lambda i: len(normed[i]))[:limit]
    close = difflib.get_close_matches(q, normed, n=limit, cutoff=0.75)
    out: list[int] = []
    for c in close:
        out.extend(i for i, n in enumerate(normed) if n == c and i not in out)
    return out[:limit]


def parse_number(value: Any) -> float | None:
    """Parse ARCEP/INSEE-style numbers: ``" 1 362 182    "`` → 1362182, ``"-"`` → 0, ``"12,5"`` → 12.5."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip().replace("\xa0", "").replace("\u202f", "").replace(" ", "")
    if text == "":
        return None
    if text in ("-", "–", "—"):
        return 0.0
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    try:
        return float(text)
    except ValueError:
        return None


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


@contextmanager
def atomic_path(dest: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on success it is ``os.replace``d onto ``dest``.

    On any exception the temporary file is removed and ``dest`` is untouched. A symlink ``dest``
    stays a link (the file it points to is replaced) and a replaced file keeps its permissions;
    temporary files of ``dest`` left by killed processes are removed first.
    """
    dest = Path(dest)
    if dest.is_symlink():
        dest = Path(os.path.realpath(dest))
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(dest)
    tmp = temp_path(dest, suffix or dest.suffix)  # not created: writers (GDAL) create it themselves
    try:
        yield tmp
        if dest.exists() and tmp.exists():
            shutil.copymode(dest, tmp)
        os.replace(tmp, dest)
    finally:
        remove_with_sidecars(tmp)


_DEPTH = {"Point": 1, "MultiPoint": 2, "LineString": 2, "MultiLineString": 3, "Polygon": 3, "MultiPolygon": 4}
_MIN_POS = {"LineString": 2, "MultiLineString": 2, "Polygon": 4, "MultiPolygon": 4}


def _check_position(pos: Any) -> bool:
    if not isinstance(pos, (list, tuple)) or len(pos) < 2:
        return False
    for v in pos[:3]:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
    return True


def _check_coords(coords: Any, depth: int, min_pos: int) -> bool:
    if depth == 1:
        return _check_position(coords)
    if not isinstance(coords, (list, tuple)):
        return False
    if depth == 2 and len(coords) < min_pos:
        return False
    return all(_check_coords(c, depth - 1, min_pos) for c in coords)


def geometry_problem(geom: Any) -> str | None:
    """``None`` if ``geom`` is a valid GeoJSON geometry (or null), else a short description of the defect."""
    if geom is None:
        return None
    if not isinstance(geom, dict):
        return "geometry is not an object"
    gtype = geom.get("type")
    if gtype == "GeometryCollection":
        for sub in geom.get("geometries") or []:
            problem = geometry_problem(sub)
            if problem:
                return problem
        return None
    if gtype not in _DEPTH:
        return f"unknown geometry type {gtype!r}"
    coords = geom.get("coordinates")
    if coords is None:
        return f"{gtype} without coordinates"
    if gtype.startswith("Multi") and isinstance(coords, list) and not coords:
        return None
    if not _check_coords(coords, _DEPTH[gtype], _MIN_POS.get(gtype, 1)):
        return f"{gtype} with malformed coordinates"
    return None


def iter_positions(geom: dict | None) -> Iterable[tuple[float, float]]:
    """All (x, y) positions of a GeoJSON geometry."""
    if not geom:
        return
    if geom.get("type") == "GeometryCollection":
        for sub in geom.get("geometries") or []:
            yield from iter_positions(sub)
        return
    depth = _DEPTH.get(geom.get("type", ""), 0)

    def walk(c: Any, d: int):
        if d == 1:
            yield float(c[0]), float(c[1])
        else:
            for sub in c:
                yield from walk(sub, d - 1)

    if depth:
        yield from walk(geom.get("coordinates"), depth)
