"""Hidden temporary files next to an output, and the removal of those a killed process left.

A writer creates ``.<name>.<host>-<pid>-<random>.tmp<suffix>`` next to ``<name>`` and moves it
into place when complete. A process killed meanwhile cannot remove it, so every writer first
calls :func:`remove_stale_temps`, which removes the temporary files of ``<name>`` (and their
SQLite ``-journal``/``-wal``/``-shm``) whose process is gone. Only files made on this host are
judged; on Windows, where a file still open by its writer cannot be deleted, the failed
deletion is what protects a live writer.
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from pathlib import Path

SQLITE_SIDECARS = ("-journal", "-wal", "-shm")


def _host_tag() -> str:
    return re.sub(r"[^0-9A-Za-z]+", "", socket.gethostname())[:24]


def temp_path(dest: str | os.PathLike[str], suffix: str = "") -> Path:
    """A hidden temporary path next to ``dest`` (``suffix`` e.g. ``.gpkg`` for drivers that need it)."""
    dest = Path(dest)
    return dest.parent / f".{dest.name}.{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}"


def remove_with_sidecars(path: str | os.PathLike[str]) -> None:
    """Remove ``path`` and its SQLite sidecar files, ignoring the ones that are absent."""
    for side in ("", *SQLITE_SIDECARS):
        try:
            os.unlink(f"{path}{side}")
        except OSError:
            pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(dest: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of ``dest`` left by killed processes of this host; returns them."""
    dest = Path(dest)
    prefix = f".{dest.name}."
    pattern = re.compile(r"(?P<host>[0-9A-Za-z]*)-(?P<pid>\d+)-[0-9a-f]{8}\.tmp[^-]*(?:-journal|-wal|-shm)?")
    removed: list[Path] = []
    try:
        names = [n for n in os.listdir(dest.parent if str(dest.parent) else ".") if n.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        m = pattern.fullmatch(name[len(prefix) :])
        if not m or m["host"] != _host_tag():
            continue
        pid = int(m["pid"])
        if pid == os.getpid() or (os.name != "nt" and _pid_alive(pid)):
            continue
        path = dest.parent / name
        try:
            path.unlink()
        except OSError:  # still open by its writer (Windows), or already removed
            continue
        removed.append(path)
    return removed
