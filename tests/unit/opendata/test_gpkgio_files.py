"""Open-data GeoPackages (cache entries, fibre and boundary exports) replace their file safely.

A replaced file keeps its permissions, a symlink stays a symlink, and the hidden temporary file
of a killed process is removed by the next write of that file.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess  # nosec B404 - the writer under test is our own child process
import sys
import time
from pathlib import Path

from idf_hr_plugin.core.opendata import gpkgio
from idf_hr_plugin.core.opendata.cache import DatasetCache

ROOT = Path(__file__).resolve().parents[3]


def _features(n: int, label: str = "a") -> list[dict]:
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [2.3 + i / 1000, 48.8]},
            "properties": {"n": label},
        }
        for i in range(n)
    ]


def _write(dest: Path, label: str) -> int:
    return gpkgio.write_features_gpkg(dest, "pts", _features(3, label), [("n", "str")], "Point")


def _labels(dest: Path) -> list[str]:
    return [f["properties"]["n"] for f in gpkgio.read_features(dest, "pts")]


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_replaced_file_keeps_its_permissions(tmp_path):
    dest = tmp_path / "coverage.gpkg"
    _write(dest, "first")
    os.chmod(dest, 0o640)
    _write(dest, "second")
    assert stat.S_IMODE(os.stat(dest).st_mode) == 0o640 and set(_labels(dest)) == {"second"}


def test_symlink_stays_a_symlink(tmp_path):
    real = tmp_path / "data" / "coverage.gpkg"
    real.parent.mkdir()
    _write(real, "first")
    link = tmp_path / "coverage.gpkg"
    link.symlink_to(real)
    _write(link, "second")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert set(_labels(real)) == {"second"}
    assert _hidden(tmp_path) == [] and _hidden(real.parent) == []


# Writes a GeoPackage whose features come slowly: creates ``signal`` at the first one, then sleeps.
CHILD = r"""
import sys, time
from pathlib import Path
from idf_hr_plugin.core.opendata import gpkgio

def feats():
    for i in range(100):
        if i == 1:
            Path(sys.argv[2]).touch()
            time.sleep(120)
        yield {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.3, 48.8]}, "properties": {"n": "k"}}

gpkgio.write_features_gpkg(sys.argv[1], "pts", feats(), [("n", "str")], "Point")
"""


def _kill_while_writing(dest: Path, tmp_path: Path) -> None:
    signal_file = tmp_path / "writing"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(dest), str(signal_file)], env=env)  # nosec B603
    try:
        deadline = time.monotonic() + 60
        while not signal_file.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def test_killed_write_leaves_nothing_once_the_file_is_written_again(tmp_path):
    dest = tmp_path / "out" / "coverage.gpkg"
    dest.parent.mkdir()
    _write(dest, "before")
    _kill_while_writing(dest, tmp_path)
    assert _labels(dest) == ["before"] * 3  # the file in place is untouched
    assert _write(dest, "after") == 3
    assert _hidden(dest.parent) == [] and set(_labels(dest)) == {"after"}


def test_cache_entry_after_a_killed_write(tmp_path):
    cache = DatasetCache(tmp_path / "cache")
    src = tmp_path / "src.gpkg"
    _write(src, "cached")
    _kill_while_writing(cache.path_for("paris-abc"), tmp_path)
    assert cache.list() == []
    entry = cache.put("paris-abc", src, src_layer="pts", dataset_id="d")
    assert entry.feature_count == 3 and _hidden(cache.root) == []
