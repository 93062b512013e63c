"""Processing output destinations as files: what QGIS's destination widgets hand to an algorithm."""

from __future__ import annotations

import re

from qgis.core import QgsDataSourceUri, QgsProcessingException, QgsProcessingUtils, QgsProviderRegistry

from ..gis.i18n import tr


def decode_destination(dest: str) -> tuple[str, str | None, str | None]:
    """(file path, table or None, provider key or None) of a Processing vector destination.

    QGIS's "Save to GeoPackage" gives ``ogr:dbname='…/file.gpkg' table="name" (geom)``; a plain
    path or ``path|layername=name`` is a file too. Another provider (``postgres:…``) comes back
    with its key so the caller can refuse it.
    """
    ok, provider, uri = QgsProcessingUtils.decodeProviderKeyAndUri(dest)  # "provider://uri"
    if not ok:  # "provider:uri", as the destination widget writes it (QGIS 3.22)
        m = re.match(r"^([A-Za-z][A-Za-z0-9_]{2,}):(?!//)(.*)$", dest, re.S)
        if not m or m.group(1) not in QgsProviderRegistry.instance().providerList():
            return dest, None, None
        provider, uri = m.groups()
    if provider != "ogr":
        return uri, None, provider
    parsed = QgsDataSourceUri(uri)
    if parsed.database():
        return parsed.database(), parsed.table() or None, provider
    parts = QgsProviderRegistry.instance().decodeUri("ogr", uri)
    return str(parts.get("path") or uri), parts.get("layerName") or None, provider


def file_destination(dest: str) -> tuple[str, str | None]:
    """(file path, table or None) of a destination; a database table (PostGIS…) is refused with a sentence."""
    path, table, provider = decode_destination(dest)
    if provider not in (None, "ogr"):
        raise QgsProcessingException(
            tr(
                "This algorithm writes a file (GeoPackage, GeoJSON…), not a {provider} table; "
                "choose a file as the output."
            ).format(provider=provider)
        )
    return path, table
