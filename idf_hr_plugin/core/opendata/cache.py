"""Offline cache of loaded open-data layers: one GeoPackage per dataset in ``cache_dir()/opendata``.

Each entry is ``<key>.gpkg`` with one layer and the ``idf_hr_metadata`` table (source URL,
dataset id, retrieval date in UTC, licence, feature count, ``complete=1``). Entries are written
to a hidden temporary file and moved into place when complete, so a crash, a cancel or a network
failure never leaves a half-written entry; an entry that does not pass the checks in :meth:`get`
is never returned.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..i18n import tr
from ..paths import cache_dir
from . import gpkgio
from ._util import norm_text, utc_now

LOG = logging.getLogger("idf_hr.opendata.cache")

_KEY_RE = re.compile(r"[^a-z0-9_-]+")


def age_text(retrieved_at: datetime, now: datetime | None = None) -> str:
    """How old a retrieval is, for the user (e.g. "retrieved 3 days ago" / "récupéré il y a 3 jours")."""
    now = now or datetime.now(timezone.utc)
    if retrieved_at.tzinfo is None:
        retrieved_at = retrieved_at.replace(tzinfo=timezone.utc)
    seconds = max(0, int((now - retrieved_at).total_seconds()))
    if seconds < 60:
        return tr("retrieved just now")
    minutes = seconds // 60
    if minutes < 60:
        return (
            tr("retrieved 1 minute ago")
            if minutes == 1
            else tr("retrieved {n} minutes ago").format(n=minutes)
        )
    hours = minutes // 60
    if hours < 48:
        return tr("retrieved 1 hour ago") if hours == 1 else tr("retrieved {n} hours ago").format(n=hours)
    return tr("retrieved {n} days ago").format(n=hours // 24)


@dataclass
class CachedDataset:
    """A complete cache entry, ready to be loaded as a layer (``path`` + ``layer``)."""

    key: str
    path: Path
    layer: str
    retrieved_at: datetime
    source_url: str
    dataset_id: str
    license: str
    feature_count: int
    title: str = ""

    @property
    def age_text(self) -> str:
        return age_text(self.retrieved_at)

    @property
    def uri(self) -> str:
        """OGR/QGIS data source string: ``path|layername=layer``."""
        return f"{self.path}|layername={self.layer}"


def make_key(*parts: Any) -> str:
    """A file-safe cache key from source parts (portal, dataset id, filter...): readable slug + short hash."""
    raw = "|".join("" if p is None else str(p) for p in parts)
    slug = _KEY_RE.sub("-", "-".join(str(p) for p in parts[:2] if p).lower()).strip("-")[:60] or "dataset"
    return f"{slug}-{hashlib.sha256(raw.encode('utf-8')).hexdigest()[:10]}"


class DatasetCache:
    """The offline dataset cache (see module docstring)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root else cache_dir() / "opendata"
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        if not key or _KEY_RE.search(key.lower()) or key.startswith("."):
            raise ValueError(f"invalid cache key {key!r}")
        return self.root / f"{key}.gpkg"

    def put(
        self,
        key: str,
        src: str | os.PathLike[str],
        *,
        source_url: str = "",
        dataset_id: str = "",
        license: str = "",
        title: str = "",
        layer: str | None = None,
        retrieved_at: datetime | None = None,
        src_layer: str | None = None,
    ) -> CachedDataset:
        """Store an OGR-readable vector file as entry ``key`` (atomically) and return the entry."""
        layer = layer or re.sub(r"[^a-z0-9_]+", "_", (dataset_id or key).lower()).strip("_") or "data"
        when = (retrieved_at or utc_now()).astimezone(timezone.utc)
        meta = {
            "key": key,
            "source_url": source_url,
            "dataset_id": dataset_id,
            "license": license,
            "title": title,
            "retrieved_at": when.isoformat(),
        }
        gpkgio.convert_to_gpkg(src, self.path_for(key), layer, meta, src_layer=src_layer)
        entry = self.get(key)
        if entry is None:  # pragma: no cover - convert_to_gpkg validated it already
            raise RuntimeError(f"cache entry {key} unreadable right after writing")
        return entry

    def get(self, key: str) -> CachedDataset | None:
        """The complete entry ``key``, or ``None`` when absent, partial or corrupt."""
        path = self.path_for(key)
        if not path.is_file():
            return None
        return self._load(path)

    def list(self) -> list[CachedDataset]:
        """All complete entries, newest first."""
        entries = [
            e
            for p in sorted(self.root.glob("*.gpkg"))
            if not p.name.startswith(".")
            for e in [self._load(p)]
            if e
        ]
        return sorted(entries, key=lambda e: e.retrieved_at, reverse=True)

    def search(self, text: str = "") -> list[CachedDataset]:
        """Entries whose title, dataset id or source hold every word of ``text`` (all when empty).

        What a search can still offer offline; the boundaries kept for the commune zoom are left out.
        """
        words = norm_text(text).split()
        out = []
        for e in self.list():
            if e.key.startswith("boundaries-"):
                continue
            hay = norm_text(f"{e.title} {e.dataset_id} {e.source_url}")
            if all(w in hay for w in words):
                out.append(e)
        return out

    def remove(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def _load(self, path: Path) -> CachedDataset | None:
        try:
            meta = gpkgio.read_metadata(path)
            if meta.get("complete") != "1":
                return None
            layer = meta["layer"]
            count = gpkgio.layer_feature_count(path, layer)
            if str(count) != meta.get("feature_count"):
                return None
            return CachedDataset(
                key=meta.get("key") or path.stem,
                path=path,
                layer=layer,
                retrieved_at=datetime.fromisoformat(meta["retrieved_at"]),
                source_url=meta.get("source_url", ""),
                dataset_id=meta.get("dataset_id", ""),
                license=meta.get("license", ""),
                feature_count=count,
                title=meta.get("title", ""),
            )
        except Exception as exc:  # an unreadable entry is simply not a cache hit
            LOG.warning("ignoring unreadable cache entry %s: %s", path, exc)
            return None
