"""Shared fixtures: isolated caches, the shared reference data, loopback servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("PROJ_DATA", "/usr/share/proj")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every test session gets its own cache root, except the demo region which is reused."""
    root = tmp_path_factory.mktemp("idf_hr_cache")
    old = os.environ.get("IDF_HR_CACHE_DIR")
    os.environ["IDF_HR_CACHE_DIR"] = str(root)
    yield root
    if old is None:
        os.environ.pop("IDF_HR_CACHE_DIR", None)
    else:
        os.environ["IDF_HR_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it skip (with the reason) when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (a fresh clone has no ../shared)")
    return SHARED_DATA


@pytest.fixture
def loopback():
    """Factory of started :class:`tests.servers.LoopbackServer` (stopped after the test)."""
    from tests.servers import LoopbackServer

    servers = []

    def make(root=None) -> LoopbackServer:
        srv = LoopbackServer(root).start()
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture(scope="session")
def postgis():
    """A PostgreSQL + PostGIS server of its own on 127.0.0.1 (see :mod:`tests.postgis`), stopped after."""
    from tests.postgis import start_postgis

    server = start_postgis()
    if server is None:
        pytest.skip(
            "PostgreSQL/PostGIS binaries not found (scripts/setup.sh installs postgresql and postgis)"
        )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_region(_isolated_cache):
    """The full default demo region, generated once per test session into the isolated cache."""
    from idf_hr_plugin.demo import ensure_demo_region

    return ensure_demo_region()


@pytest.fixture(scope="session")
def small_demo_region(tmp_path_factory):
    """A 256 m x 256 m demo region (same generator as ``demo_region``): ~5 s instead of ~70 s."""
    from idf_hr_plugin.demo import ensure_demo_region

    return ensure_demo_region(tmp_path_factory.mktemp("demo") / "region", size_m=256, tile_m=256)


_EXIT_STATUS: list = []


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave the test interpreter without Python's finalisation once the results are reported.

    After a full run, QGIS 3.22's teardown at interpreter exit crashed (SIGSEGV) with every test
    passed: QGIS, Qt, Dask's threads and libpq objects are destroyed in an order none of them
    controls. Exiting here keeps the exit status pytest computed, so a failure still fails.
    """
    import sys

    if "qgis.core" in sys.modules and _EXIT_STATUS:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS[-1])
