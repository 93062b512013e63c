"""The detection writer against other processes: concurrent writers, edits, SIGKILL, permissions, symlinks.

Every writer here is a real Python process running :func:`write_gpkg`; the geometries it writes
pause once, inside the write step, so the test can start a second writer, edit the file or kill
the process exactly while the layer is being written.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess  # nosec B404 - the writers under test are our own child processes
import sys
import time
from pathlib import Path

import pytest
from osgeo import ogr
from shapely.geometry import box

from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.inference.writer import FIELDS, read_runs, write_gpkg

ROOT = Path(__file__).resolve().parents[3]
L93 = (
    'PROJCS["RGF93 v1 / Lambert-93",GEOGCS["RGF93 v1",DATUM["Reseau_Geodesique_Francais_1993_v1",'
    'SPHEROID["GRS 1980",6378137,298.257222101]],PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],'
    'PROJECTION["Lambert_Conformal_Conic_2SP"],PARAMETER["latitude_of_origin",46.5],'
    'PARAMETER["central_meridian",3],PARAMETER["standard_parallel_1",49],PARAMETER["standard_parallel_2",44],'
    'PARAMETER["false_easting",700000],PARAMETER["false_northing",6600000],UNIT["metre",1],'
    'AUTHORITY["EPSG","2154"]]'
)

# A writer process: ``out layer n signal wait``. Once, while its layer is being written, it creates
# the file ``signal`` then waits: ``sleep:S`` seconds, or ``file:PATH`` (until PATH exists) + 1.5 s.
CHILD = r"""
import sys, time
from pathlib import Path
from shapely.geometry import box
from idf_hr_plugin.core.errors import UserInputError
from idf_hr_plugin.core.inference.writer import FIELDS, write_gpkg

out, layer, n, signal, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
paused = []

class Pausing:
    def __init__(self, g):
        self.g = g

    @property
    def wkb(self):
        if not paused and signal != "-":
            paused.append(1)
            Path(signal).touch()
            kind, _, arg = wait.partition(":")
            if kind == "sleep":
                time.sleep(float(arg))
            else:
                while not Path(arg).exists():
                    time.sleep(0.05)
                time.sleep(1.5)
        return self.g.wkb

geoms = [Pausing(box(652000 + i, 6861000, 652000 + i + 0.5, 6861000.5)) for i in range(n)]
records = {name: [1 if kind == "int" else 0.5 if kind == "real" else layer for _ in range(n)]
           for name, kind in FIELDS}
try:
    name = write_gpkg(out, layer, sys.argv[6], geoms, records, {"run_id": layer, "model_name": "m"})
except UserInputError as exc:
    print(exc)
    sys.exit(2)
print(name)
"""


def _writer(out: Path, layer: str, n: int = 50, signal_file: Path | None = None, wait: str = "sleep:0"):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-c", CHILD, str(out), layer, str(n), str(signal_file or "-"), wait, L93]
    return subprocess.Popen(  # nosec B603 - fixed interpreter and arguments
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"writer ended before its write step: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"writer never reached its write step ({path})")
        time.sleep(0.05)


def _finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, (out, err)
    return out.strip()


def _layers(path: Path) -> set[str]:
    ds = ogr.Open(str(path))
    return {ds.GetLayer(i).GetName() for i in range(ds.GetLayerCount())}


def _count(path: Path, layer: str) -> int:
    ds = ogr.Open(str(path))
    return ds.GetLayerByName(layer).GetFeatureCount()


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _records(n: int, label: str) -> dict:
    return {name: [1 if kind == "int" else 0.5 if kind == "real" else label] * n for name, kind in FIELDS}


def _write(out: Path, layer: str, n: int = 3, **kw) -> str:
    geoms = [box(652000 + i, 6861000, 652000 + i + 0.5, 6861000.5) for i in range(n)]
    return write_gpkg(out, layer, L93, geoms, _records(n, layer), {"run_id": layer}, **kw)


def _existing(tmp_path: Path) -> Path:
    """A GeoPackage the user already has: one result layer and a table of their own notes."""
    out = tmp_path / "results.gpkg"
    _write(out, "earlier")
    with sqlite3.connect(out) as con:
        con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        con.execute("INSERT INTO notes (text) VALUES ('kept')")
    con.close()
    return out


@pytest.mark.parametrize("existing", [True, False], ids=["existing-file", "new-file"])
def test_two_concurrent_writers_both_keep_their_layer_and_run(tmp_path, existing):
    out = _existing(tmp_path) if existing else tmp_path / "results.gpkg"
    a_writing, b_started = tmp_path / "a_writing", tmp_path / "b_started"
    a = _writer(out, "run_a", signal_file=a_writing, wait=f"file:{b_started}")
    _wait_for(a_writing, a)
    b_started.touch()  # A is inside its write step: start B now; A goes on 1.5 s later
    b = _writer(out, "run_b")
    name_b, name_a = _finish(b), _finish(a)
    assert {name_a, name_b} == {"run_a", "run_b"}
    assert {"run_a", "run_b", "idfhr_runs"} <= _layers(out)
    assert _count(out, "run_a") == 50 and _count(out, "run_b") == 50
    runs = {r["run_id"] for r in read_runs(out)}
    assert {"run_a", "run_b"} <= runs
    if existing:
        assert "earlier" in runs and "earlier" in _layers(out)
    assert _hidden(tmp_path) == []


def test_same_layer_name_from_two_writers_gets_two_names(tmp_path):
    out = _existing(tmp_path)
    a_writing, b_started = tmp_path / "a_writing", tmp_path / "b_started"
    a = _writer(out, "same", signal_file=a_writing, wait=f"file:{b_started}")
    _wait_for(a_writing, a)
    b_started.touch()
    b = _writer(out, "same")
    assert {_finish(a), _finish(b)} == {"same", "same_2"}
    assert {"same", "same_2"} <= _layers(out)


def test_edit_of_another_table_during_the_write_step_survives(tmp_path):
    out = _existing(tmp_path)
    a_writing = tmp_path / "a_writing"
    a = _writer(out, "run_a", signal_file=a_writing, wait="sleep:1.5")
    _wait_for(a_writing, a)
    # another program (QGIS, a user's script) edits its own table while the layer is written
    con = sqlite3.connect(out, timeout=60)
    with con:
        con.execute("INSERT INTO notes (text) VALUES ('added during the run')")
    con.close()
    _finish(a)
    with sqlite3.connect(out) as con:
        notes = [t for (t,) in con.execute("SELECT text FROM notes ORDER BY id")]
    con.close()
    assert notes == ["kept", "added during the run"]
    assert {"earlier", "run_a"} <= _layers(out)


def test_killed_writer_leaves_nothing_and_the_file_intact(tmp_path):
    out = _existing(tmp_path)
    before = _layers(out)
    a_writing = tmp_path / "a_writing"
    a = _writer(out, "killed", n=200, signal_file=a_writing, wait="sleep:120")
    _wait_for(a_writing, a)
    os.kill(a.pid, signal.SIGKILL)
    a.wait(timeout=30)
    assert _hidden(tmp_path) == []  # no hidden copy of the file
    # the next opening rolls the interrupted transaction back: the file is as it was
    assert _layers(out) == before and [r["run_id"] for r in read_runs(out)] == ["earlier"]
    with sqlite3.connect(out) as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert [t for (t,) in con.execute("SELECT text FROM notes")] == ["kept"]
    con.close()
    assert not Path(str(out) + "-journal").exists()
    assert _write(out, "after") == "after" and "after" in _layers(out)


def test_killed_writer_of_a_new_file_leaves_no_temporary_file_for_good(tmp_path):
    out = tmp_path / "new.gpkg"
    a_writing = tmp_path / "a_writing"
    a = _writer(out, "killed", n=200, signal_file=a_writing, wait="sleep:120")
    _wait_for(a_writing, a)
    os.kill(a.pid, signal.SIGKILL)
    a.wait(timeout=30)
    assert not out.exists()
    # the next run writing into that folder removes what the killed process left
    assert _write(out, "next") == "next"
    assert _hidden(tmp_path) == [] and _layers(out) == {"next", "idfhr_runs"}


def test_permissions_are_kept(tmp_path):
    out = _existing(tmp_path)
    os.chmod(out, 0o640)
    _write(out, "second")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert {"earlier", "second"} <= _layers(out)


def test_symlink_stays_a_symlink(tmp_path):
    real = _existing(tmp_path)
    link = tmp_path / "link.gpkg"
    link.symlink_to(real)
    _write(link, "via_link")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert {"earlier", "via_link"} <= _layers(real)
    assert _hidden(tmp_path) == []


def test_file_locked_too_long_is_refused_with_a_sentence(tmp_path):
    out = _existing(tmp_path)
    before = out.read_bytes()
    holder = subprocess.Popen(  # nosec B603 - fixed interpreter and arguments
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(60)",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(UserInputError, match="locked by another program.*nothing was changed"):
            _write(out, "blocked", lock_wait_s=1.0)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert out.read_bytes() == before and _hidden(tmp_path) == []
