#!/usr/bin/env bash
# Idempotent setup: Debian packages (QGIS, GDAL stack), then a venv that sees them.
set -euo pipefail
cd "$(dirname "$0")/.."
APT_PKGS="qgis python3-qgis qgis-providers qgis-server python3-rasterio python3-geopandas python3-venv python3-requests python3-openpyxl python3-matplotlib poppler-utils xvfb xauth qttools5-dev-tools zip postgresql postgis postgresql-15-postgis-3 python3-psycopg2"
missing=""
for p in $APT_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "[setup] installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing </dev/null
fi
VENV=.venv
STAMP=$VENV/.setup-stamp
want=$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -c1-16)
if [ ! -x $VENV/bin/python ] || [ "$(cat $STAMP 2>/dev/null)" != "$want" ]; then
  echo "[setup] preparing $VENV (system site packages: QGIS, GDAL, rasterio, numpy from Debian)"
  [ -x $VENV/bin/python ] || /usr/bin/python3 -m venv --system-site-packages $VENV
  # constraints pin numpy to Debian's build: QGIS/GDAL bindings are compiled against it.
  $VENV/bin/pip install -q --disable-pip-version-check -c constraints.txt -r requirements-dev.txt </dev/null
  echo "$want" > $STAMP
fi
