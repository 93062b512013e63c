"""Qt-free, QGIS-free domain code of IdF HR.

Nothing under this package may import ``qgis`` or Qt: the same engine runs in the
QGIS dock, in Processing, in ``qgis_process`` and in the plain-Python CLI.
"""
