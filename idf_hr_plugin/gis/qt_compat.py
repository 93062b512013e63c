"""What differs between QGIS 3 on Qt 5 and QGIS 4 on Qt 6, decided once here.

``scripts/check_qt6.py`` (run by ``make lint``) keeps the rest of the plugin on the spelling both
accept (scoped enums, ``exec()``); only what has no common spelling lives here.
"""

from __future__ import annotations

from qgis.core import Qgis
from qgis.PyQt.QtCore import QMetaType, QVariant

# QgsField takes QMetaType.Type from QGIS 3.38 on (the only choice on Qt 6, where QVariant.Type is
# gone) and QVariant.Type before (3.22 rejects QMetaType.Type).
QMETATYPE_FIELDS_VERSION = 33800


def field_types(qgis_version: int | None = None) -> dict[str, object]:
    """The QgsField type for each field kind ``"str"``, ``"float"``, ``"int"`` on this QGIS."""
    version = Qgis.versionInt() if qgis_version is None else qgis_version
    if version >= QMETATYPE_FIELDS_VERSION:
        return {"str": QMetaType.Type.QString, "float": QMetaType.Type.Double, "int": QMetaType.Type.Int}
    # Below 3.38, QGIS runs on Qt 5 only, which has QVariant.Type.
    return {"str": QVariant.String, "float": QVariant.Double, "int": QVariant.Int}  # qt6: ok


FIELD_TYPES = field_types()
