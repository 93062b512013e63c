#!/usr/bin/env bash
# Open QGIS with IdF HR loaded from this source tree, in a dedicated profile (.qgis-profile).
# The venv's ONNX Runtime (the packages the plugin's one-click install would add, and only those
# QGIS's Python lacks) is put on QGIS's path, so detection works right after `make demo`.
# VENV (default .venv), QGIS_BIN (default qgis) and IDF_HR_QGIS_PROFILE (default .qgis-profile)
# can be overridden.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE_ROOT="${IDF_HR_QGIS_PROFILE:-$PWD/.qgis-profile}"
INI="$PROFILE_ROOT/profiles/default/QGIS/QGIS3.ini"
VENV="${VENV:-$PWD/.venv}"
mkdir -p "$(dirname "$INI")"
if ! grep -q "^idf_hr_plugin=true" "$INI" 2>/dev/null; then
  printf '[PythonPlugins]\nidf_hr_plugin=true\n' >> "$INI"
fi
export QGIS_PLUGINPATH="$PWD"
export PROJ_DATA=/usr/share/proj
if [ -z "${DISPLAY:-}" ] && [ "${QT_QPA_PLATFORM:-}" != "offscreen" ]; then
  echo "No display: run it from a desktop session (or under xvfb-run)." >&2
  exit 1
fi
# Symlinks to the venv's copies of the pinned packages QGIS's Python (/usr/bin/python3) cannot
# import; a folder of only those, so nothing QGIS ships (numpy, GDAL…) is shadowed.
DEPS="$PROFILE_ROOT/venv-deps"
rm -rf "$DEPS"
if [ -x "$VENV/bin/python" ]; then
  mkdir -p "$DEPS"
  "$VENV/bin/python" - "$DEPS" <<'PY'
import importlib.util, os, subprocess, sys
sys.path.insert(0, os.getcwd())
from idf_hr_plugin.gis.onnx_runtime_install import PINS
deps = sys.argv[1]
for _dist, _ver, module in PINS:
    if subprocess.run(["/usr/bin/python3", "-c", f"import {module}"], capture_output=True).returncode == 0:
        continue  # QGIS's Python has it: keep QGIS's copy
    spec = importlib.util.find_spec(module.split(".")[0])
    if spec is None:
        print(f"run_qgis.sh: {module} is not in the venv either; detection will offer its install.", file=sys.stderr)
        continue
    locations = list(spec.submodule_search_locations or [])
    path = locations[0] if locations else spec.origin
    link = os.path.join(deps, os.path.basename(path))
    if not os.path.lexists(link):
        os.symlink(path, link)
PY
  export PYTHONPATH="$DEPS${PYTHONPATH:+:$PYTHONPATH}"
fi
unset QT_QPA_PLATFORM
exec "${QGIS_BIN:-qgis}" --profiles-path "$PROFILE_ROOT" --nologo "$@"
