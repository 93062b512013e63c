"""Translate a QGIS raster layer into something GDAL (and so the core) can read window by window."""

from __future__ import annotations

from qgis.core import QgsDataSourceUri, QgsRasterLayer

from ..core.errors import UserInputError
from .i18n import tr


def _xyz_gdal_wms_xml(url: str, zmax: int = 20) -> str:
    """A GDAL WMS/TMS service description for an XYZ template URL (Web Mercator tiles)."""
    template = url.replace("{x}", "${x}").replace("{y}", "${y}").replace("{z}", "${z}")
    template = template.replace("&", "&amp;")
    return (
        "<GDAL_WMS><Service name='TMS'><ServerUrl>" + template + "</ServerUrl></Service>"
        "<DataWindow><UpperLeftX>-20037508.34</UpperLeftX><UpperLeftY>20037508.34</UpperLeftY>"
        "<LowerRightX>20037508.34</LowerRightX><LowerRightY>-20037508.34</LowerRightY>"
        f"<TileLevel>{zmax}</TileLevel><TileCountX>1</TileCountX><TileCountY>1</TileCountY>"
        "<YOrigin>top</YOrigin></DataWindow><Projection>EPSG:3857</Projection>"
        "<BlockSizeX>256</BlockSizeX><BlockSizeY>256</BlockSizeY><BandsCount>3</BandsCount>"
        "<Cache/></GDAL_WMS>"
    )


def gdal_source_for_layer(layer: QgsRasterLayer) -> str:
    """GDAL dataset name for a raster layer: file/COG/VRT as is, WMTS and XYZ via GDAL's drivers."""
    provider = layer.providerType()
    if provider == "gdal":
        return layer.source()
    if provider == "wms":
        uri = QgsDataSourceUri()
        uri.setEncodedUri(layer.source())
        params = {k: uri.param(k) for k in ("url", "layers", "tileMatrixSet", "styles", "type")}
        if params["type"] == "xyz":
            return _xyz_gdal_wms_xml(params["url"])
        if params["tileMatrixSet"]:
            url = params["url"]
            parts = [f"WMTS:{url}", f"layer={params['layers']}", f"tilematrixset={params['tileMatrixSet']}"]
            if params["styles"]:
                parts.append(f"style={params['styles']}")
            return ",".join(parts)
        raise UserInputError(
            tr(
                "The layer “{name}” is a WMS layer; only WMTS, XYZ and file/COG layers can be read for downloads or detections."
            ).format(name=layer.name())
        )
    raise UserInputError(
        tr(
            "The layer “{name}” uses the “{provider}” provider, which IdF HR cannot read window by window."
        ).format(name=layer.name(), provider=provider)
    )
