"""Where IdF HR keeps its caches and generated data, outside of QGIS and inside it."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
RESOURCES_DIR = PACKAGE_DIR / "resources"


def cache_dir() -> Path:
    """Root of the persistent cache (``IDF_HR_CACHE_DIR`` overrides ``$XDG_CACHE_HOME/idf_hr``)."""
    env = os.environ.get("IDF_HR_CACHE_DIR")
    if env:
        root = Path(env)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(base) / "idf_hr"
    root.mkdir(parents=True, exist_ok=True)
    return root


def demo_dir() -> Path:
    """Folder of the generated demo region (generated on first use, never committed)."""
    return cache_dir() / "demo"
