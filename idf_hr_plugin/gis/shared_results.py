"""QGIS adapter of shared results: saved PostgreSQL connections (with their ``authcfg``) and the
layers of a shared run (its GeoPackage asset, or a PostGIS query limited to an extent).

The connection string given to the core is built by QGIS from the saved connection, the
authentication manager filling in the user and password of its ``authcfg``; layers keep the
``authcfg`` (never the password) in their source, so the project file holds no secret.
"""

from __future__ import annotations

from typing import Optional

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsProject,
    QgsProviderRegistry,
    QgsRectangle,
    QgsVectorLayer,
    QgsWkbTypes,
)

from ..core.errors import UserInputError
from .i18n import tr

L93 = "EPSG:2154"


def _postgres():
    md = QgsProviderRegistry.instance().providerMetadata("postgres")
    if md is None:
        raise UserInputError(tr("QGIS's PostgreSQL provider is not available in this QGIS installation."))
    return md


def postgres_connections() -> list:
    """Names of the PostgreSQL connections saved in QGIS (Data Source Manager > PostgreSQL)."""
    try:
        return sorted(_postgres().connections().keys())
    except UserInputError:
        return []


def connection_uri(name: str) -> QgsDataSourceUri:
    """The saved connection ``name`` (with its ``authcfg``, if any)."""
    md = _postgres()
    conns = md.connections()
    if name not in conns:
        raise UserInputError(
            tr(
                "There is no saved PostgreSQL connection named '{name}'. Create it in QGIS "
                "(Data Source Manager > PostgreSQL > New), then choose it here."
            ).format(name=name)
        )
    return QgsDataSourceUri(conns[name].uri())


def connection_dsn(name: str) -> str:
    """A libpq connection string for the saved connection, its ``authcfg`` resolved by QGIS."""
    uri = connection_uri(name)
    info = uri.connectionInfo(True)
    if uri.authConfigId() and "password" not in info:
        raise UserInputError(
            tr(
                "The authentication configuration of the connection '{name}' could not be read; unlock "
                "QGIS's authentication database (master password) or check the configuration."
            ).format(name=name)
        )
    return info


def extent_l93(extent: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> tuple:
    """``extent`` (in ``crs``) as (xmin, ymin, xmax, ymax) in Lambert-93."""
    tf = QgsCoordinateTransform(crs, QgsCoordinateReferenceSystem(L93), QgsProject.instance())
    r = tf.transformBoundingBox(extent)
    return (r.xMinimum(), r.yMinimum(), r.xMaximum(), r.yMaximum())


def postgis_layer(
    connection: str, partner: str, run_id: str, *, schema: str = "public", bbox: Optional[tuple] = None
) -> QgsVectorLayer:
    """A run of the shared PostGIS store as a QGIS layer (query layer, key ``fid``), limited to
    ``bbox`` (Lambert-93) when given; its columns and types are the published layer's."""
    from ..core.sharing import features_query, run_row

    run = run_row(connection_dsn(connection), partner, run_id, schema=schema)
    uri = connection_uri(connection)
    sql = features_query(schema, partner, run_id, run.fields, bbox)
    uri.setDataSource("", f"({sql})", "geom", "", "fid")
    uri.setSrid("2154")
    uri.setWkbType(
        {"Polygon": QgsWkbTypes.Type.Polygon, "MultiPolygon": QgsWkbTypes.Type.MultiPolygon}.get(
            run.geometry_type, QgsWkbTypes.Type.Unknown
        )
    )
    layer = QgsVectorLayer(uri.uri(False), f"{run.layer} — {partner}", "postgres")
    if not layer.isValid():
        raise UserInputError(
            tr("QGIS could not open the run {run} of '{partner}' from the connection '{name}': {err}").format(
                run=run_id, partner=partner, name=connection, err=layer.dataProvider().error().summary()
            )
        )
    return layer


def objects_layer(run) -> QgsVectorLayer:
    """The GeoPackage asset of a run listed by a results catalog (local file or URL)."""
    from ..core.catalog.hrefs import is_remote

    href = run.objects_href
    if not href:
        raise UserInputError(
            tr("The shared run {run} of '{partner}' has no GeoPackage asset to load.").format(
                run=run.run_id, partner=run.partner
            )
        )
    path = "/vsicurl/" + href if is_remote(href) else href
    source = f"{path}|layername={run.layer}" if run.layer else path  # another tool's item: no layer named
    name = f"{run.layer or run.run_id} — {run.partner or '?'}"
    layer = QgsVectorLayer(source, name, "ogr")
    if not layer.isValid():
        raise UserInputError(
            tr("The GeoPackage {href} of the shared run {run} cannot be opened.").format(
                href=href, run=run.run_id
            )
        )
    return layer


def add_shared_run(
    run, *, connection: str = "", schema: str = "public", bbox: Optional[tuple] = None
) -> QgsVectorLayer:
    """Add a shared run to the project: PostGIS (limited to ``bbox``) when listed from a store, else its
    GeoPackage asset. Returns the layer added."""
    if run.source == "postgis":
        layer = postgis_layer(connection, run.partner, run.run_id, schema=schema, bbox=bbox)
    else:
        layer = objects_layer(run)
    QgsProject.instance().addMapLayer(layer)
    return layer
