"""A persistent, size-bounded key → bytes cache for tiles and byte ranges.

Layout under ``root``::

    index.sqlite          one row per entry: key, payload file, length, sha256, last access
    blobs/ab/<hash>.bin   payload files (``ab`` = first two hex digits of the key hash)

Guarantees:

* **Never serves a truncated or corrupt entry.** Every entry records its length and sha256;
  a read whose payload is missing, short, long or whose digest differs deletes the entry and
  reports a miss. sha256 (not crc32) because it also catches a payload file swapped with
  another key's after a crash, and at ~1.7 GB/s (SHA-NI) it costs ~0.15 ms per 256 KiB block,
  negligible next to the disk read and the network.
* **Safe if the process is killed mid-write.** Payloads go to a temporary name, are fsynced,
  then renamed; the index row is committed only after the rename. A kill leaves at worst a
  stray temp or orphan file, removed at the next open (files older than ``stale_seconds``, so
  another process writing to the same cache is not disturbed), or an index row whose payload
  does not verify, which the next read drops.
* **Survives restart**: the index is SQLite in WAL mode.
* **LRU by last access**, bounded by ``max_bytes`` (payload bytes). Access times are written in
  batches (every 256 hits, and before eviction, ``stats`` and ``close``) to keep reads cheap.
* **Thread-safe**: one SQLite connection guarded by a lock; file I/O happens outside it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserInputError
from ..i18n import tr

LOG = logging.getLogger("idf_hr.tiles.cache")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    atime REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_atime ON entries(atime);
"""


@dataclass
class CacheStats:
    """Counters of a :class:`BlockCache` (entries/bytes are the persistent totals)."""

    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    corrupt: int
    evicted: int


class BlockCache:
    """Persistent LRU cache of byte blobs; see the module docstring for guarantees."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int, *, stale_seconds: float = 600.0):
        self.root = Path(root)
        self.max_bytes = int(max_bytes)
        self.blobs = self.root / "blobs"
        try:
            self.blobs.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.root / "index.sqlite"), timeout=30.0, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise UserInputError(
                tr(
                    "The tile cache folder {path} cannot be used ({error}). Choose another cache "
                    "folder in the IdF HR settings or free some disk space."
                ).format(path=self.root, error=exc)
            ) from exc
        self._lock = threading.RLock()
        self._touched: dict[str, float] = {}  # last-access times not yet written (batched)
        self._hits = self._misses = self._corrupt = self._evicted = 0
        self._cleanup(stale_seconds)
        self._total = self._sum_sizes()

    # -- public API ------------------------------------------------------------
    def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or ``None`` (miss, or an entry that failed verification)."""
        with self._lock:
            row = self._db.execute("SELECT file, size, sha256 FROM entries WHERE key=?", (key,)).fetchone()
        if row is None:
            self._misses += 1
            return None
        fname, size, digest = row
        data = self._read_verified(self.blobs / fname, size, digest)
        if data is None:
            # Re-check under the lock: a concurrent eviction or rewrite is not corruption.
            with self._lock:
                now = self._db.execute(
                    "SELECT file, size, sha256 FROM entries WHERE key=?", (key,)
                ).fetchone()
                if now == row and self._read_verified(self.blobs / fname, size, digest) is None:
                    LOG.warning("cache entry %r failed verification; dropped", key)
                    self._db.execute("DELETE FROM entries WHERE key=?", (key,))
                    (self.blobs / fname).unlink(missing_ok=True)
                    self._total = self._sum_sizes()
                    self._corrupt += 1
            self._misses += 1
            return None
        with self._lock:
            self._touched[key] = time.time()
            if len(self._touched) >= 256:
                self._flush_atimes()
        self._hits += 1
        return data

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` durably, then evict least-recently-used entries over budget."""
        data = bytes(data)
        if len(data) > self.max_bytes:
            return  # would evict everything and still not fit
        fname = self._file_name(key)
        path = self.blobs / fname
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        digest = hashlib.sha256(data).hexdigest()
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            with self._lock:
                os.replace(tmp, path)
                old = self._db.execute("SELECT size FROM entries WHERE key=?", (key,)).fetchone()
                self._db.execute(
                    "INSERT OR REPLACE INTO entries(key, file, size, sha256, atime) VALUES (?,?,?,?,?)",
                    (key, fname, len(data), digest, time.time()),
                )
                self._total += len(data) - (old[0] if old else 0)
                over = self._total > self.max_bytes
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            LOG.warning("could not store %r in the tile cache: %s", key, exc)
            return
        if over:
            self.evict_to(self.max_bytes)

    def delete(self, key: str) -> None:
        """Remove the entry stored under ``key`` (no-op if absent)."""
        with self._lock:
            row = self._db.execute("SELECT file, size FROM entries WHERE key=?", (key,)).fetchone()
            if row is None:
                return
            self._db.execute("DELETE FROM entries WHERE key=?", (key,))
            self._touched.pop(key, None)
            self._total -= row[1]
            (self.blobs / row[0]).unlink(missing_ok=True)

    def evict_to(self, max_bytes: int) -> int:
        """Delete least-recently-used entries until the payload total is ≤ ``max_bytes``; return count."""
        removed = 0
        with self._lock:
            self._flush_atimes()
            self._total = self._sum_sizes()
            while self._total > max_bytes:
                rows = self._db.execute(
                    "SELECT key, file, size FROM entries ORDER BY atime ASC LIMIT 64"
                ).fetchall()
                if not rows:
                    break
                victims = []
                for key, fname, size in rows:
                    if self._total <= max_bytes:
                        break
                    victims.append((key, fname))
                    self._total -= size
                self._db.execute("BEGIN")
                self._db.executemany("DELETE FROM entries WHERE key=?", [(k,) for k, _ in victims])
                self._db.execute("COMMIT")
                for _, fname in victims:
                    (self.blobs / fname).unlink(missing_ok=True)
                removed += len(victims)
            self._evicted += removed
        return removed

    def stats(self) -> CacheStats:
        """Entry count, payload bytes and hit/miss/corrupt/evicted counters of this instance."""
        with self._lock:
            self._flush_atimes()
            n, total = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries").fetchone()
        return CacheStats(n, total, self.max_bytes, self._hits, self._misses, self._corrupt, self._evicted)

    def clear(self) -> None:
        """Remove every entry and payload file."""
        with self._lock:
            rows = self._db.execute("SELECT file FROM entries").fetchall()
            self._db.execute("DELETE FROM entries")
            for (fname,) in rows:
                (self.blobs / fname).unlink(missing_ok=True)
            self._total = 0

    def close(self) -> None:
        """Close the index (the cache can be reopened by a new instance)."""
        with self._lock:
            self._flush_atimes()
            self._db.close()

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM entries WHERE key=?", (key,)).fetchone() is not None

    # -- internals -----------------------------------------------------------------
    @staticmethod
    def _file_name(key: str) -> str:
        h = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return f"{h[:2]}/{h}.bin"

    def _sum_sizes(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM entries").fetchone()[0])

    def _flush_atimes(self) -> None:
        """Write batched last-access times (one transaction instead of one per hit)."""
        if not self._touched:
            return
        items = [(t, k) for k, t in self._touched.items()]
        self._touched.clear()
        self._db.execute("BEGIN")
        self._db.executemany("UPDATE entries SET atime=MAX(atime, ?) WHERE key=?", items)
        self._db.execute("COMMIT")

    @staticmethod
    def _read_verified(path: Path, size: int, digest: str) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read(size + 1)
        except OSError:
            return None
        if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
            return None
        return data

    def _cleanup(self, stale_seconds: float) -> None:
        """Remove temp files and orphan payloads older than ``stale_seconds`` (left by a kill)."""
        with self._lock:
            known = {r[0] for r in self._db.execute("SELECT file FROM entries")}
        limit = time.time() - stale_seconds
        for sub in self.blobs.iterdir():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                rel = f"{sub.name}/{f.name}"
                if rel in known:
                    continue
                try:
                    if f.stat().st_mtime <= limit:
                        f.unlink()
                except OSError:
                    pass


DEFAULT_MAX_BYTES = 2 * 1024**3


def default_cache(max_bytes: int = DEFAULT_MAX_BYTES) -> BlockCache:
    """The tile cache of this user: ``<cache_dir()>/tiles`` (see :func:`core.paths.cache_dir`)."""
    from ..paths import cache_dir

    return BlockCache(cache_dir() / "tiles", max_bytes)
