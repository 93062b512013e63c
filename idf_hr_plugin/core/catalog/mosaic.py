"""Open several items of one vintage as one GDAL VRT mosaic."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

from ..errors import UserInputError
from ..i18n import tr
from .hrefs import file_url_to_path, is_remote, scheme_of
from .model import Item


def gdal_path(href: str) -> str:
    """GDAL dataset name for an asset href: local path as is, http(s) through ``/vsicurl/``."""
    if href.startswith("/vsi"):
        return href
    if is_remote(href):
        return "/vsicurl/" + href
    scheme = scheme_of(href)
    if scheme == "file":
        return file_url_to_path(href)
    if scheme:
        raise UserInputError(
            tr(
                "{href} uses the '{scheme}://' scheme, which IdF HR cannot open: use an http(s) "
                "address or a local file."
            ).format(href=href, scheme=scheme)
        )
    return href


def _item_path(item: Item, href_to_path: Optional[Callable[[str], str]] = None) -> str:
    rasters = item.raster_assets()
    if not rasters:
        raise UserInputError(
            tr("The item {id} has no image file to open (no GeoTIFF/JPEG 2000 asset).").format(id=item.id)
        )
    return (href_to_path or gdal_path)(rasters[0].href)


def _describe(gdal, path: str) -> tuple[str, int]:
    try:  # GDAL may be in exception mode (gdal.UseExceptions() elsewhere) or not
        ds = gdal.Open(path)
        msg = gdal.GetLastErrorMsg()
    except RuntimeError as exc:
        ds, msg = None, str(exc)
    if ds is None:
        raise UserInputError(
            tr("The image {path} cannot be opened ({error}). Check the address or your network.").format(
                path=path, error=msg or "unknown error"
            )
        )
    srs = ds.GetSpatialRef()
    crs = None
    if srs is not None:
        try:
            srs.AutoIdentifyEPSG()
        except RuntimeError:  # exception mode: unidentifiable CRS, compare WKT instead
            pass
        code = srs.GetAuthorityCode(None)
        crs = f"EPSG:{code}" if code else srs.ExportToWkt()
    return crs or "", ds.RasterCount


def rewrite_vrt_sources(src: Path, dst: Path, mapping: Callable[[str], str]) -> bool:
    """Write ``src`` to ``dst`` with each ``SourceFilename`` replaced by ``mapping(path)``.

    Relative sources are made absolute first (``dst`` may be in another folder). Returns False,
    writing nothing, when no source changes. ``dst`` is written to a temporary file and moved
    into place. A VRT with a DOCTYPE/ENTITY declaration is refused (``ValueError``) unparsed.
    """
    # xml.etree is safe here: documents with a DOCTYPE/ENTITY are refused before parsing
    import xml.etree.ElementTree as ET  # noqa: S405  # nosec B405

    data = src.read_bytes()
    if b"<!doctype" in data.lower() or b"<!entity" in data.lower():
        raise ValueError(f"{src} declares a DOCTYPE/ENTITY")
    try:
        tree = ET.ElementTree(ET.fromstring(data))  # noqa: S314  # nosec B314
    except ET.ParseError as exc:
        raise ValueError(f"{src} is not valid XML: {exc}") from exc
    changed = False
    for el in tree.iter("SourceFilename"):
        path = (el.text or "").strip()
        if el.get("relativeToVRT") == "1" and not path.startswith("/vsi"):
            path = str((src.parent / path).resolve())
        new = mapping(path)
        if new != (el.text or "").strip():
            el.text = new
            el.set("relativeToVRT", "0")
            changed = True
    if not changed:
        return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dst.stem + ".", suffix=".vrt.part", dir=str(dst.parent))
    os.close(fd)
    try:
        tree.write(tmp, encoding="utf-8")
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def build_mosaic_vrt(
    items: Iterable[Item],
    out_path: Union[str, os.PathLike],
    href_to_path: Optional[Callable[[str], str]] = None,
    stored_path: Optional[Callable[[str], str]] = None,
) -> Path:
    """Write a VRT mosaicking the first image asset of each item; return its path.

    ``href_to_path`` maps an asset href to the GDAL path to read it with (default
    :func:`gdal_path`; the plugin passes one that routes remote COGs through its caching proxy).
    ``stored_path`` maps that GDAL path to the one written in the VRT (the plugin stores the
    origin ``/vsicurl/`` URL, never a proxy URL that only lives in one session).

    All images must share one CRS and one band count (else :class:`UserInputError`). The VRT is
    written to a temporary file in the same folder and moved into place when complete.
    """
    from osgeo import gdal  # GDAL, not Qt: allowed in core

    paths = [_item_path(it, href_to_path) for it in items]
    if not paths:
        raise UserInputError(tr("No item was given to build a mosaic: select at least one image."))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    opts = {
        "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
        "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".tif,.tiff,.jp2,.vrt",
    }
    old = {k: gdal.GetThreadLocalConfigOption(k, None) for k in opts}
    try:
        for k, v in opts.items():
            gdal.SetThreadLocalConfigOption(k, v)
        crss: dict[str, str] = {}
        bands: dict[int, str] = {}
        for p in paths:
            crs, count = _describe(gdal, p)
            crss.setdefault(crs, p)
            bands.setdefault(count, p)
        if len(crss) > 1:
            raise UserInputError(
                tr(
                    "These images cannot be mosaicked together: they use different coordinate "
                    "systems ({crss}). Select images of one vintage and one projection."
                ).format(crss=", ".join(c if len(c) < 40 else c[:40] + "…" for c in crss))
            )
        if len(bands) > 1:
            raise UserInputError(
                tr(
                    "These images cannot be mosaicked together: they have different band counts "
                    "({counts}), e.g. RGB and infrared. Select images of one product."
                ).format(counts=", ".join(str(b) for b in sorted(bands)))
            )
        fd, tmp = tempfile.mkstemp(prefix=out.stem + ".", suffix=".vrt.part", dir=str(out.parent))
        os.close(fd)
        try:
            try:
                ds = gdal.BuildVRT(tmp, paths)
                msg = gdal.GetLastErrorMsg()
            except RuntimeError as exc:
                ds, msg = None, str(exc)
            if ds is None:
                raise UserInputError(tr("GDAL could not build the mosaic: {error}").format(error=msg))
            ds.FlushCache()
            ds = None
            if stored_path is not None:
                rewrite_vrt_sources(Path(tmp), Path(tmp), stored_path)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    finally:
        for k, v in old.items():
            gdal.SetThreadLocalConfigOption(k, v)
        gdal.PopErrorHandler()
    return out
