#!/usr/bin/env bash
# Open QGIS with IdF HR loaded from this source tree, in a dedicated profile (.qgis-profile).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE_ROOT="$PWD/.qgis-profile"
INI="$PROFILE_ROOT/profiles/default/QGIS/QGIS3.ini"
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
unset QT_QPA_PLATFORM
exec qgis --profiles-path "$PROFILE_ROOT" --nologo "$@"
