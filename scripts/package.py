"""Build the zip that QGIS installs through "Install from ZIP" (version from metadata.txt)."""

from __future__ import annotations

import argparse
import configparser
import os
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "idf_hr_plugin"
EXCLUDE_DIRS = {"__pycache__", ".pytest_cache"}
EXCLUDE_SUFFIXES = {".pyc", ".pyo", ".part"}


def version() -> str:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "metadata.txt", encoding="utf-8")
    return cfg["general"]["version"]


def files():
    base = ROOT / PLUGIN
    # followlinks: resources/, i18n/ and metadata.txt are symlinks to the top-level copies
    for dirpath, dirnames, filenames in os.walk(base, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDE_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix in EXCLUDE_SUFFIXES:
                continue
            yield path, f"{PLUGIN}/{path.relative_to(base).as_posix()}"


def build(out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{PLUGIN}-{version()}.zip"
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, arc in files():
            zf.write(path, arc)
    tmp.replace(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="dist")
    args = parser.parse_args()
    out = build(ROOT / args.out)
    with zipfile.ZipFile(out) as zf:
        n = len(zf.namelist())
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB, {n} files)")


if __name__ == "__main__":
    main()
