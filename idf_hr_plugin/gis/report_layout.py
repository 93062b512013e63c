"""The report as a QGIS print layout (A4 landscape, two pages) exported to PDF, plus an HTML twin.

Page 1: title, date, map of the extent (imagery + the layer), legend, scale bar, north arrow, the
bar chart per class and status, the counts table and the sources/licences. Page 2: the per-zone
table, the frugality record of the run(s), the model card summary, the parameters and notes.
The layout is an ordinary :class:`QgsPrintLayout` (editable in the layout manager); the chart is
a PNG embedded in it (``base64:``), so a saved project needs no side file.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Callable, Optional, Sequence

from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsLayoutExporter,
    QgsLayoutFrame,
    QgsLayoutItemLabel,
    QgsLayoutItemLegend,
    QgsLayoutItemManualTable,
    QgsLayoutItemMap,
    QgsLayoutItemPage,
    QgsLayoutItemPicture,
    QgsLayoutItemScaleBar,
    QgsLayoutPoint,
    QgsLayoutSize,
    QgsLegendStyle,
    QgsMapLayer,
    QgsPrintLayout,
    QgsProject,
    QgsRectangle,
    QgsRenderContext,
    QgsRendererCategory,
    QgsScaleBarSettings,
    QgsTableCell,
    QgsUnitTypes,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QColor, QFont

from ..core.analysis.report_data import ReportData
from ..core.errors import Cancelled
from .analysis_layers import CHANGE_STYLES
from .i18n import tr

STATUS_COLORS = {**{v: c for v, _label, c in CHANGE_STYLES}, "detected": "#2b83ba"}
PALETTE = ["#d95f02", "#1f78b4", "#6a3d9a", "#33a02c", "#e7298a", "#a6761d", "#666666", "#e6ab02"]

W, H = 297.0, 210.0  # A4 landscape, mm
MAX_ZONE_ROWS = 14  # rows of the per-zone table that fit on page 2; the HTML version has them all


# -- chart ------------------------------------------------------------------------------------
def chart_png(data: ReportData, dpi: int = 150) -> Optional[bytes]:
    """Grouped bar chart of counts per class and status as PNG bytes (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
    except ImportError:
        return None
    classes = sorted(data.counts)
    statuses = data.statuses or ["detected"]
    fig = Figure(figsize=(4.6, 2.6), dpi=dpi)
    ax = fig.add_subplot(111)
    if not classes:
        ax.text(0.5, 0.5, data.text("nothing"), ha="center", va="center", wrap=True, fontsize=9)
        ax.set_axis_off()
    else:
        width = 0.8 / len(statuses)
        for i, st in enumerate(statuses):
            xs = [c + (i - (len(statuses) - 1) / 2) * width for c in range(len(classes))]
            ys = [data.counts[c].get(st, 0) for c in classes]
            ax.bar(xs, ys, width, label=data.text(st), color=STATUS_COLORS.get(st, "#555555"))
        ax.set_xticks(range(len(classes)))
        ax.set_xticklabels(classes, fontsize=7, rotation=20, ha="right")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_ylabel(data.text("count"), fontsize=8)
        if len(statuses) > 1:
            ax.legend(fontsize=6, ncol=min(len(statuses), 3), frameon=False, loc="best")
        ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(data.text("counts" if data.kind != "detections" else "counts_classes"), fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# -- layout helpers ---------------------------------------------------------------------------
def _label(layout, text: str, x, y, w, h, size: float = 8.0, bold: bool = False) -> QgsLayoutItemLabel:
    item = QgsLayoutItemLabel(layout)
    item.setText(text)
    font = QFont("DejaVu Sans")
    font.setPointSizeF(size)
    font.setBold(bold)
    item.setFont(font)
    item.setHAlign(Qt.AlignLeft)
    item.attemptMove(QgsLayoutPoint(x, y, QgsUnitTypes.LayoutMillimeters))
    item.attemptResize(QgsLayoutSize(w, h, QgsUnitTypes.LayoutMillimeters))
    layout.addLayoutItem(item)
    return item


def _table(layout, rows: Sequence[Sequence], header: Sequence[str], x, y, w, h, size=7.0):
    table = QgsLayoutItemManualTable.create(layout)
    layout.addMultiFrame(table)
    table.setTableContents([[QgsTableCell(str(v)) for v in r] for r in rows] or [[QgsTableCell("—")]])
    from qgis.core import QgsLayoutTableColumn

    cols = []
    for name in header:
        col = QgsLayoutTableColumn()
        col.setHeading(name)
        cols.append(col)
    table.setHeaders(cols)
    table.setIncludeTableHeader(True)
    font = QFont("DejaVu Sans")
    font.setPointSizeF(size)
    table.setContentFont(font)
    hfont = QFont("DejaVu Sans")
    hfont.setPointSizeF(size)
    hfont.setBold(True)
    table.setHeaderFont(hfont)
    table.setCellMargin(0.8)
    frame = QgsLayoutFrame(layout, table)
    frame.attemptResize(QgsLayoutSize(w, h, QgsUnitTypes.LayoutMillimeters))
    frame.attemptMove(QgsLayoutPoint(x, y, QgsUnitTypes.LayoutMillimeters))
    table.addFrame(frame)
    return table


def _fmt(v, nd: int = 2) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.{nd}f}".replace(",", " ")
    return str(v)


def style_report_layer(layer, data: ReportData, colors: Optional[dict] = None) -> None:
    """Change layer: the Analyse tab's change style, labels in the report's language, statuses
    present only. Detection layer: categories by class label."""
    if data.kind == "changes":
        from .analysis_layers import change_renderer

        renderer = change_renderer()
        present = set(data.statuses)
        for i in reversed(range(len(renderer.categories()))):
            value = renderer.categories()[i].value()
            if value not in present:
                renderer.deleteCategory(i)
            else:
                renderer.updateCategoryLabel(i, data.text(value))
        layer.setRenderer(renderer)
        return
    field = "label"
    if layer.fields().indexOf(field) < 0:
        return
    values = sorted({str(v) for v in layer.uniqueValues(layer.fields().indexOf(field))})
    cats = []
    for i, v in enumerate(values):
        color = QColor((colors or {}).get(v) or PALETTE[i % len(PALETTE)])
        sym = QgsFillSymbol.createSimple({"outline_width": "0.4"})
        fill = QColor(color)
        fill.setAlpha(90)
        sym.setColor(fill)
        sym.symbolLayer(0).setStrokeColor(color)
        cats.append(QgsRendererCategory(v, sym, v))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, cats))


def build_report_layout(
    project: QgsProject,
    data: ReportData,
    layers: Sequence[QgsMapLayer],
    name: str = "",
    chart: Optional[bytes] = None,
) -> QgsPrintLayout:
    """The report as an editable two-page A4 landscape print layout (not added to the project)."""
    layout = QgsPrintLayout(project)
    layout.initializeDefaults()
    layout.renderContext().setTextRenderFormat(QgsRenderContext.TextFormatAlwaysText)
    layout.setName(name or f"{data.title} — {data.layer}")
    pages = layout.pageCollection()
    pages.page(0).setPageSize("A4", QgsLayoutItemPage.Landscape)
    page2 = QgsLayoutItemPage(layout)
    page2.setPageSize("A4", QgsLayoutItemPage.Landscape)
    pages.addPage(page2)
    y2 = pages.page(1).pos().y()  # layout y of page 2's top edge
    m = 10.0

    # page 1 -----------------------------------------------------------------
    _label(layout, data.title, m, 7, 200, 10, 16, True)
    sub = data.text("generated", date=data.generated_at) + "   ·   " + data.text("layer", layer=data.layer)
    sub += "   ·   " + data.text("objects", n=data.n_features)
    _label(layout, sub, m, 17, 277, 6, 8)

    map_item = QgsLayoutItemMap(layout)
    map_item.attemptMove(QgsLayoutPoint(m, 25, QgsUnitTypes.LayoutMillimeters))
    map_item.attemptResize(QgsLayoutSize(150, 135, QgsUnitTypes.LayoutMillimeters))
    map_item.setFrameEnabled(True)
    map_item.setLayers(list(layers))
    if layers:
        map_item.setCrs(layers[0].crs())
    layout.addLayoutItem(map_item)
    ext = _map_extent(data, layers)
    if ext is not None:
        map_item.setExtent(_fit(ext, 150.0 / 135.0))  # zoomToExtent gives an empty extent headless
    map_item.setId("map")

    bar = QgsLayoutItemScaleBar(layout)
    bar.setStyle("Single Box")
    bar.setLinkedMap(map_item)
    bar.setUnits(QgsUnitTypes.DistanceMeters)
    bar.setUnitLabel("m")
    bar.setNumberOfSegmentsLeft(0)
    bar.setNumberOfSegments(2)
    bar.setSegmentSizeMode(QgsScaleBarSettings.SegmentSizeFixed)
    bar.setUnitsPerSegment(_nice(map_item.extent().width() / 8) if ext is not None else 100.0)
    layout.addLayoutItem(bar)
    bar.attemptMove(QgsLayoutPoint(m + 2, 146, QgsUnitTypes.LayoutMillimeters))
    bar.setBackgroundEnabled(True)

    arrow = QgsLayoutItemPicture(layout)
    arrow.setPicturePath(_north_arrow())
    arrow.attemptMove(QgsLayoutPoint(m + 137, 27, QgsUnitTypes.LayoutMillimeters))
    arrow.attemptResize(QgsLayoutSize(11, 15, QgsUnitTypes.LayoutMillimeters))
    arrow.setLinkedMap(map_item)
    layout.addLayoutItem(arrow)

    legend = QgsLayoutItemLegend(layout)
    legend.setTitle(data.text("legend"))
    legend.setLinkedMap(map_item)
    legend.setAutoUpdateModel(False)
    root = legend.model().rootGroup()
    root.clear()
    for lyr in layers:
        if lyr.type() == QgsMapLayer.VectorLayer:  # raster band swatches say nothing to a reader
            root.addLayer(lyr)
    for style, size, bold in (
        (QgsLegendStyle.Title, 10, True),
        (QgsLegendStyle.Group, 8, True),
        (QgsLegendStyle.Subgroup, 8, True),
        (QgsLegendStyle.SymbolLabel, 7, False),
    ):
        f = QFont("DejaVu Sans")
        f.setPointSizeF(size)
        f.setBold(bold)
        legend.setStyleFont(style, f)
    legend.setWrapString(" ")
    legend.setResizeToContents(True)
    legend.setBackgroundEnabled(True)
    layout.addLayoutItem(legend)
    legend.attemptMove(QgsLayoutPoint(m + 152, 25, QgsUnitTypes.LayoutMillimeters))
    legend.attemptResize(QgsLayoutSize(40, 60, QgsUnitTypes.LayoutMillimeters))

    # chart, or the reason there is none
    x_right = m + 195
    if chart is not None:
        pic = QgsLayoutItemPicture(layout)
        pic.setPicturePath("base64:" + base64.b64encode(chart).decode("ascii"))
        pic.attemptMove(QgsLayoutPoint(x_right, 25, QgsUnitTypes.LayoutMillimeters))
        pic.attemptResize(QgsLayoutSize(82, 48, QgsUnitTypes.LayoutMillimeters))
        pic.setResizeMode(QgsLayoutItemPicture.Zoom)
        layout.addLayoutItem(pic)
        pic.setId("chart")
    else:
        _label(layout, data.text("chart_missing"), x_right, 25, 82, 48, 8)

    if data.empty:
        _label(layout, data.text("nothing"), x_right, 76, 82, 12, 11, True)
    else:
        head = [data.text(data.count_key), data.text("status"), data.text("count")]
        count_rows = data.count_rows()  # up to 25 rows (5 classes x 5 statuses) must fit in 84 mm
        size = 7.0 if len(count_rows) <= 18 else max(4.5, 7.0 * 18 / len(count_rows))
        _table(layout, count_rows[:40], head, x_right, 76, 82, 84, size=size)

    _label(layout, data.text("sources"), m, 164, 277, 5, 9, True)
    src = data.sources + [data.text("page")]
    if any("synthetic" in s.lower() or "synthétique" in s.lower() for s in data.sources):
        src.insert(0, data.text("synthetic"))
    _label(layout, "\n".join(src), m, 170, 277, 32, 7)

    # page 2 -----------------------------------------------------------------
    _label(layout, data.text("zones"), m, y2 + 7, 277, 6, 11, True)
    if data.zone_rows:
        keys = _zone_keys(data)
        rows = [[_cell(k, r.get(k)) for k, _ in keys] for r in data.zone_rows[:MAX_ZONE_ROWS]]
        _table(layout, rows, [h for _, h in keys], m, y2 + 14, 277, 62)
        if len(data.zone_rows) > MAX_ZONE_ROWS:
            more = data.text("more_rows", n=len(data.zone_rows) - MAX_ZONE_ROWS)
            _label(layout, more, m, y2 + 74, 277, 5, 7)
    else:
        _label(layout, data.text("zones_outside" if data.zones_given else "no_zones"), m, y2 + 14, 277, 6, 8)

    _label(layout, data.text("frugality"), m, y2 + 80, 135, 6, 11, True)
    if data.runs:
        head = [data.text(k) for k in ("run", "vintage", "duration", "cpu", "km2", "energy")]
        rows = [
            [
                r["run_id"][:12],
                r["vintage"],
                _fmt(r["duration_s"], 1),
                _fmt(r["cpu_s"], 1),
                _fmt(r["km2"], 3),
                _fmt(r["energy_wh"], 3),
            ]
            for r in data.runs
        ]
        _table(layout, rows, head, m, y2 + 87, 135, 22)
        method = data.runs[-1].get("energy_method") or ""
        _label(layout, data.text("energy_method", method=method), m, y2 + 111, 135, 20, 6.5)
    else:
        _label(layout, data.text("no_runs"), m, y2 + 87, 135, 10, 8)

    _label(layout, data.text("parameters"), m, y2 + 133, 135, 6, 11, True)
    params = "\n".join(f"{k}: {_fmt(v)}" for k, v in list(data.parameters.items())[:16])
    notes = "\n".join(data.notes[:4])
    _label(layout, (params + ("\n" + notes if notes else "")) or "—", m, y2 + 140, 135, 62, 6.5)

    xm = m + 142
    _label(layout, data.text("model"), xm, y2 + 80, 135, 6, 11, True)
    _label(layout, _model_text(data), xm, y2 + 87, 135, 115, 6.5)
    return layout


def _pct(v) -> str:
    if v is None:
        return "—"
    p = 100 * float(v)
    return f"{p:.0f} %" if p >= 10 or p == 0 else f"{p:.1f} %"


def _cell(key: str, value) -> str:
    if key == "analysed_fraction":
        return _pct(value)
    if key == "analysed_pct":
        return _pct(None if value is None else float(value) / 100)
    return _fmt(value, 4 if "km2" in key else 2)


def _zone_keys(data: ReportData) -> list[tuple[str, str]]:
    first = data.zone_rows[0]
    keys = [("zone", data.text("zone"))]
    if "label" in first:
        keys.append(("label", data.text("class")))
    keys += [("count", data.text("count"))]
    if "area_m2" in first:
        keys.append(("area_m2", data.text("area_m2")))
    if "net_change" in first:
        keys.append(("net_change", data.text("net_change")))
    if "density_per_km2" in first:
        keys.append(("density_per_km2", data.text("density")))
    keys += [
        ("analysed_km2", data.text("analysed_km2")),
        ("analysed_fraction", data.text("analysed_fraction")),
        ("analysed_pct", data.text("analysed_fraction")),  # the Analyse tab's zones layer, in %
    ]
    return [(k, h) for k, h in keys if k in first]


def _model_text(data: ReportData) -> str:
    mdl = data.model
    if not mdl:
        return data.text("model_none")
    lines = [f"{mdl.get('name')} {mdl.get('version', '')}  —  {mdl.get('licence', '')}"]
    lines.append(f"{data.text('sha256')}: {mdl.get('sha256', '')}")
    lines.append(f"{data.text('classes')}: {', '.join(mdl.get('classes', []))}")
    acc = mdl.get("accuracy") or {}
    if acc:
        lines.append(data.text("accuracy") + ": " + ", ".join(f"{k} {v:.2f}" for k, v in acc.items()))
        if mdl.get("accuracy_metric"):
            lines.append("  (" + mdl["accuracy_metric"] + ")")
    if mdl.get("limits"):
        lines.append(data.text("limits") + ":")
        lines.extend("• " + s for s in mdl["limits"])
    return "\n".join(lines)


def _map_extent(data: ReportData, layers) -> Optional[QgsRectangle]:
    if data.extent is not None:
        r = QgsRectangle(*data.extent)
    elif layers:
        r = QgsRectangle(layers[-1].extent())
    else:
        return None
    if r.isEmpty() and layers:
        r = QgsRectangle(layers[-1].extent())
    r.scale(1.05)
    return r


def _nice(x: float) -> float:
    """1, 2 or 5 times a power of ten, not above ``x`` (a readable scale-bar segment)."""
    import math

    if x <= 0:
        return 1.0
    p = 10 ** math.floor(math.log10(x))
    return max(m * p for m in (1, 2, 5) if m * p <= x)


def _fit(r: QgsRectangle, aspect: float) -> QgsRectangle:
    """``r`` grown around its centre to the width/height ratio ``aspect``."""
    w, h = max(r.width(), 1.0), max(r.height(), 1.0)
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    c = r.center()
    return QgsRectangle(c.x() - w / 2, c.y() - h / 2, c.x() + w / 2, c.y() + h / 2)


def _north_arrow() -> str:
    from qgis.core import QgsApplication

    for base in QgsApplication.svgPaths():
        p = Path(base) / "arrows" / "NorthArrow_02.svg"
        if p.is_file():
            return str(p)
    return ""


# -- exports ----------------------------------------------------------------------------------
def export_pdf(
    layout: QgsPrintLayout, path: str | os.PathLike, cancel: Optional[Callable[[], bool]] = None
) -> Path:
    """Export to PDF through a temporary file renamed into place; cancel or failure leaves nothing."""
    from ..core.opendata._util import atomic_path

    dest = Path(path)
    with atomic_path(dest, ".pdf") as tmp:
        if cancel is not None and cancel():
            raise Cancelled()
        settings = QgsLayoutExporter.PdfExportSettings()
        settings.dpi = 150
        settings.rasterizeWholeImage = False
        settings.textRenderFormat = QgsRenderContext.TextFormatAlwaysText  # searchable, copyable text
        result = QgsLayoutExporter(layout).exportToPdf(str(tmp), settings)
        if result != QgsLayoutExporter.Success:
            from ..core.errors import IdfHrError

            raise IdfHrError(
                tr(
                    "The report could not be exported to PDF '{path}' (QGIS error {code}); check the folder is writable."
                ).format(path=dest, code=int(result))
            )
        if cancel is not None and cancel():
            raise Cancelled()
    return dest


def map_png(layout: QgsPrintLayout, dpi: int = 96) -> bytes:
    """The layout's map item rendered as PNG bytes (for the HTML twin)."""
    from qgis.PyQt.QtCore import QBuffer, QByteArray, QIODevice

    map_item = layout.itemById("map")
    img = (
        QgsLayoutExporter(layout).renderRegionToImage(map_item.sceneBoundingRect(), dpi=dpi)
        if map_item
        else None
    )
    if img is None or img.isNull():
        return b""
    ba = QByteArray()
    buf = QBuffer(ba)
    buf.open(QIODevice.WriteOnly)
    img.save(buf, "PNG")
    return bytes(ba)


def export_html(
    data: ReportData, path: str | os.PathLike, chart: Optional[bytes], map_image: bytes = b""
) -> Path:
    """A self-contained HTML version of the report (chart and map inlined as data URIs)."""
    from ..core.opendata._util import atomic_path

    e = html.escape
    parts = [
        f"<!DOCTYPE html><html lang='{data.lang}'><head><meta charset='utf-8'><title>{e(data.title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #bbb;padding:2px 6px;font-size:90%}h2{margin-top:1.2em}</style></head><body>",
        f"<h1>{e(data.title)}</h1><p>{e(data.text('generated', date=data.generated_at))} · "
        f"{e(data.text('layer', layer=data.layer))} · {e(data.text('objects', n=data.n_features))}</p>",
    ]
    if map_image:
        b64 = base64.b64encode(map_image).decode("ascii")
        parts.append(
            f"<h2>{e(data.text('map'))}</h2><img alt='map' src='data:image/png;base64,{b64}' style='max-width:100%'>"
        )
    if data.empty:
        parts.append(f"<p><strong>{e(data.text('nothing'))}</strong></p>")
    parts.append(f"<h2>{e(data.text('counts'))}</h2>")
    if chart:
        parts.append(
            f"<img alt='chart' src='data:image/png;base64,{base64.b64encode(chart).decode('ascii')}'>"
        )
    else:
        parts.append(f"<p>{e(data.text('chart_missing'))}</p>")
    parts.append(
        _html_table([data.text(data.count_key), data.text("status"), data.text("count")], data.count_rows())
    )
    parts.append(f"<h2>{e(data.text('zones'))}</h2>")
    if data.zone_rows:
        keys = _zone_keys(data)
        parts.append(
            _html_table([h for _, h in keys], [[_cell(k, r.get(k)) for k, _ in keys] for r in data.zone_rows])
        )
    else:
        parts.append(f"<p>{e(data.text('zones_outside' if data.zones_given else 'no_zones'))}</p>")
    parts.append(f"<h2>{e(data.text('frugality'))}</h2>")
    if data.runs:
        head = [data.text(k) for k in ("run", "vintage", "duration", "cpu", "km2", "energy")]
        rows = [
            [
                r["run_id"],
                r["vintage"],
                _fmt(r["duration_s"], 1),
                _fmt(r["cpu_s"], 1),
                _fmt(r["km2"], 3),
                _fmt(r["energy_wh"], 3),
            ]
            for r in data.runs
        ]
        parts.append(_html_table(head, rows))
        parts.append(f"<p>{e(data.text('energy_method', method=data.runs[-1].get('energy_method', '')))}</p>")
    else:
        parts.append(f"<p>{e(data.text('no_runs'))}</p>")
    parts.append(
        f"<h2>{e(data.text('model'))}</h2><pre style='white-space:pre-wrap'>{e(_model_text(data))}</pre>"
    )
    parts.append(f"<h2>{e(data.text('parameters'))}</h2>")
    parts.append(_html_table(["", ""], [[k, _fmt(v)] for k, v in data.parameters.items()]))
    if data.notes:
        parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in data.notes) + "</ul>")
    parts.append(
        f"<h2>{e(data.text('sources'))}</h2><ul>"
        + "".join(f"<li>{e(s)}</li>" for s in data.sources)
        + "</ul>"
    )
    parts.append("</body></html>")
    dest = Path(path)
    with atomic_path(dest, ".html") as tmp:
        Path(tmp).write_text("\n".join(parts), encoding="utf-8")
    return dest


def _html_table(head: Sequence[str], rows: Sequence[Sequence]) -> str:
    e = html.escape
    h = "".join(f"<th>{e(str(x))}</th>" for x in head)
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{body}</table>"


# -- one call ---------------------------------------------------------------------------------
def generate_report(
    data: ReportData,
    pdf: str | os.PathLike,
    *,
    project: Optional[QgsProject] = None,
    layers: Sequence[QgsMapLayer] = (),
    imagery: Sequence[str] = (),
    html_path: Optional[str | os.PathLike] = None,
    add_to_project: bool = False,
    cancel: Optional[Callable[[], bool]] = None,
) -> dict:
    """Build the layout for ``data`` and export it; returns ``{"pdf", "html", "layout", "chart"}``.

    ``layers`` are drawn on the map (the report layer is loaded from ``data.path`` when empty);
    ``imagery`` are raster paths drawn under it. With ``add_to_project`` the layout joins the
    project's layout manager so the user can edit it.
    """
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    project = project or QgsProject.instance()
    keep = []
    layers = list(layers)
    if not layers:
        vl = QgsVectorLayer(f"{data.path}|layername={data.layer}", data.layer, "ogr")
        if vl.isValid():
            if data.kind == "zonal" and vl.fields().indexOf("count") >= 0:
                from .analysis_layers import style_zones_layer

                style_zones_layer(vl, "count")
            else:
                style_report_layer(vl, data)
            layers.append(vl)
    for p in imagery:
        if p and Path(p).is_file():
            rl = QgsRasterLayer(str(p), Path(p).stem, "gdal")
            if rl.isValid():
                layers.append(rl)
    for lyr in layers:
        if lyr.id() not in project.mapLayers():
            # layout maps need layers the project owns; an editable layout keeps them in the legend
            project.addMapLayer(lyr, add_to_project)
            keep.append(lyr)
    chart = chart_png(data)
    layout = build_report_layout(project, data, layers, chart=chart)
    out = {"pdf": export_pdf(layout, pdf, cancel), "chart": chart is not None, "layout": layout}
    if html_path:
        out["html"] = export_html(data, html_path, chart, map_png(layout))
    if add_to_project:
        mgr = project.layoutManager()
        base, k = layout.name(), 2
        while mgr.layoutByName(layout.name()) is not None:
            layout.setName(f"{base} ({k})")
            k += 1
        mgr.addLayout(layout)
    else:
        out["layout"] = None
        for lyr in keep:
            project.removeMapLayer(lyr.id())
    return out


def report_from_file(
    path: str | os.PathLike,
    layer: Optional[str],
    pdf: str | os.PathLike,
    *,
    lang: str = "fr",
    zones: Optional[tuple] = None,
    runs_from: Sequence[str] = (),
    html_path: Optional[str | os.PathLike] = None,
    project: Optional[QgsProject] = None,
    add_to_project: bool = False,
    cancel: Optional[Callable[[], bool]] = None,
    sources: Sequence[str] = (),
) -> dict:
    """Gather the data of ``layer`` of ``path`` and write the report (see :func:`generate_report`).

    ``zones``: ``(geometries, names, crs)`` for the per-zone table. The imagery of the latest run
    is drawn under the layer when its file is still there.
    """
    from ..core.analysis.report_data import gather_report_data

    geoms, names, zcrs = zones if zones is not None else (None, None, "EPSG:2154")
    data = gather_report_data(
        path,
        layer,
        lang=lang,
        zones=geoms,
        zone_names=names,
        zones_crs=zcrs,
        runs_from=runs_from,
        sources=sources,
    )
    imagery = [data.runs[-1]["raster"]] if data.runs else []
    out = generate_report(
        data,
        pdf,
        project=project,
        imagery=imagery,
        html_path=html_path,
        add_to_project=add_to_project,
        cancel=cancel,
    )
    out["data"] = data
    return out
