"""Field types go through one Qt 5 / Qt 6 switch and still give the expected QGIS field types."""

from __future__ import annotations

from qgis.PyQt.QtCore import QMetaType

from idf_hr_plugin.core.catalog import footprints
from idf_hr_plugin.gis.layers import footprint_fields
from idf_hr_plugin.gis.qt_compat import QMETATYPE_FIELDS_VERSION, field_types


def test_footprint_fields_keep_their_types(qgis_app):
    # QMetaType ids equal the QVariant.Type ids Qt 5 uses, so one table checks both
    expected = {"str": QMetaType.Type.QString, "float": QMetaType.Type.Double, "int": QMetaType.Type.Int}
    got = {f.name(): int(f.type()) for f in footprint_fields()}
    assert got == {name: int(expected[kind]) for name, kind in footprints.FOOTPRINT_FIELDS}


def test_qgis_338_and_later_get_qmetatype():
    new = field_types(QMETATYPE_FIELDS_VERSION)
    assert new == {"str": QMetaType.Type.QString, "float": QMetaType.Type.Double, "int": QMetaType.Type.Int}
    old = field_types(32200)
    assert {k: int(v) for k, v in old.items()} == {k: int(v) for k, v in new.items()}  # same ids, Qt 5 type
