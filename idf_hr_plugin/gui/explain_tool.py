""" "Why this detection?": a map tool that opens a panel explaining the clicked detection (or change).

The panel shows the crop the model saw with the object drawn, the score and the runner-up
classes, the tile, the run and the model card's known limits; "Occlusion map" runs
:func:`..core.explain.occlusion_map` in a task (progress, Cancel) and shows the heat map over the
crop. All the work is in :mod:`..core.explain`; this module only displays it.
"""

from __future__ import annotations

import html
import logging

from qgis.core import QgsGeometry, QgsProviderRegistry, QgsVectorLayer
from qgis.gui import QgsMapToolIdentify
from qgis.PyQt import sip
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QImage, QPixmap
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
)

from ..gis import tasks
from ..gis.i18n import tr

LOG = logging.getLogger("idf_hr.gui.explain")
IMAGE_PX = 280  # each crop on screen: two of them side by side fit a 1366 x 768 screen


def explainable(layer) -> bool:
    """A GeoPackage layer of IdF HR detections (``run_id``) or changes (``change``)."""
    if not isinstance(layer, QgsVectorLayer) or layer.providerType() != "ogr":
        return False
    names = set(layer.fields().names())
    return "run_id" in names or {"change", "run_after"} <= names


def layer_source(layer) -> tuple:
    """-> (GeoPackage path, layer name) of an OGR layer."""
    parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
    return parts.get("path", ""), parts.get("layerName") or None


def human(label: str) -> str:
    """A class name as people read it: ``swimming_pool`` -> ``swimming pool``."""
    return str(label).replace("_", " ")


def to_pixmap(img) -> QPixmap:
    """(H, W, 3) uint8 numpy picture -> QPixmap."""
    h, w = img.shape[:2]
    data = img.tobytes()
    qimg = QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    return QPixmap.fromImage(qimg)


class ExplainMapTool(QgsMapToolIdentify):
    """Click a detection or change feature: emits ``featureClicked(layer, fid)``."""

    featureClicked = pyqtSignal(object, int)
    nothingClicked = pyqtSignal()

    def __init__(self, canvas) -> None:
        super().__init__(canvas)
        self.setCursor(Qt.CursorShape.WhatsThisCursor)

    def canvasReleaseEvent(self, event) -> None:  # noqa: N802 (Qt API)
        layers = [lyr for lyr in self.canvas().layers() if explainable(lyr)]
        hits = (
            self.identify(
                event.x(),
                event.y(),
                layers,
                QgsMapToolIdentify.IdentifyMode.TopDownAll,
            )
            if layers
            else []
        )
        hits = [h for h in hits if explainable(h.mLayer)]
        if not hits:
            self.nothingClicked.emit()
            return
        # objects overlap (a car under a tree, a pool in a garden): the smallest one under the cursor
        point = event.mapPoint()
        under = []
        for h in hits:
            geom = h.mFeature.geometry()
            p = self.toLayerCoordinates(h.mLayer, point)
            if not geom.isNull() and geom.contains(QgsGeometry.fromPointXY(p)):
                under.append((geom.area(), h))
        hit = min(under, key=lambda t: t[0])[1] if under else hits[0]
        self.featureClicked.emit(hit.mLayer, int(hit.mFeature.id()))


class ExplainPanel(QDialog):
    """What the model saw, what it said, and (on demand) where it looked."""

    def __init__(self, exp, parent=None, message_bar=None) -> None:
        super().__init__(parent)
        self.exp = exp
        self.task: tasks.IdfHrTask | None = None
        self._message_bar = message_bar
        self.setWindowTitle(tr("Why this detection?"))
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        lay = QVBoxLayout(self)
        # pictures on the left, what the model said on the right: all in view on a 768 px screen
        top = QHBoxLayout()
        left = QVBoxLayout()
        row = QHBoxLayout()
        self.images: list = []
        self.captions: list = []
        for v in exp.views:
            col = QVBoxLayout()
            cap = QLabel(self._caption(v))
            cap.setWordWrap(True)
            img = QLabel()
            img.setFixedSize(IMAGE_PX, IMAGE_PX)
            img.setScaledContents(True)
            col.addWidget(cap)
            col.addWidget(img)
            row.addLayout(col)
            self.images.append(img)
            self.captions.append(cap)
        left.addLayout(row)
        self.zoom_check = QCheckBox(tr("Zoom on the object"))
        self.zoom_check.setToolTip(tr("Untick to see the whole crop the model saw."))
        self.zoom_check.setChecked(True)
        self.zoom_check.toggled.connect(self.show_crops)
        left.addWidget(self.zoom_check)
        self.legend = QLabel(
            tr("Yellow: the object as the run wrote it. Cyan: the box the model draws on this crop now.")
        )
        self.legend.setWordWrap(True)
        self.legend.setMaximumWidth((IMAGE_PX + 8) * len(exp.views))
        self.zoom_check.setMaximumWidth((IMAGE_PX + 8) * len(exp.views))
        left.addWidget(self.legend)
        left.addStretch(1)
        top.addLayout(left)
        self.details = QTextBrowser()
        self.details.setHtml(self.details_html())
        self.details.setMinimumWidth(300)
        top.addWidget(self.details, 1)
        lay.addLayout(top, 1)
        from ..core.explain.explain import occlusion_meaning

        self.meaning = QLabel(occlusion_meaning())
        self.meaning.setWordWrap(True)
        lay.addWidget(self.meaning)
        occ_row = QHBoxLayout()
        self.occlusion_button = QPushButton(tr("Occlusion map"))
        self.occlusion_button.setToolTip(
            tr("Hide each part of the crop with a grey square, run the model again and map the score drop.")
        )
        self.occlusion_button.clicked.connect(self.start_occlusion)
        self.cancel_button = QPushButton(tr("Cancel"))
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        occ_row.addWidget(self.occlusion_button)
        occ_row.addWidget(self.cancel_button)
        occ_row.addWidget(self.progress, 1)
        lay.addLayout(occ_row)
        self.status = QLabel(tr("The occlusion map takes a few seconds on the CPU."))
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        lay.addWidget(close)
        self.occlusion_button.setEnabled(exp.views[exp.main_view].match is not None)
        self.show_crops()
        self.resize(min(1300, 400 + (IMAGE_PX + 12) * len(exp.views)), 560)

    # -- content -----------------------------------------------------------------------------

    def _caption(self, v) -> str:
        if v.role == "detection":
            return tr("What the model saw ({n} × {n} px at the model's resolution)").format(n=v.window[2])
        when = tr("Before") if v.role == "before" else tr("After")
        return f"{when}: {v.vintage}" if v.vintage else when

    def show_crops(self) -> None:
        from ..core.explain.render import crop_picture, heat_picture, zoom

        occ = self.exp.occlusion
        for i, (v, img) in enumerate(zip(self.exp.views, self.images)):
            pic = heat_picture(v, occ) if occ is not None and occ.view == i else crop_picture(v)
            img.setPixmap(to_pixmap(zoom(v, pic) if self.zoom_check.isChecked() else pic))

    def details_html(self) -> str:
        """Score, runner-up classes, tile, run, model and its known limits."""
        e = self.exp
        esc = html.escape
        rows = []
        score = "—" if e.score is None else f"{e.score:.2f}"
        rows.append(
            (
                tr("Detected as"),
                "<b>{label}</b>, {score_word} {score}".format(
                    label=esc(human(e.label)), score_word=esc(tr("score")), score=score
                ),
            )
        )
        if e.class_scores:
            rows.append(
                (
                    tr("Classes the model weighed (run)"),
                    "<br/>".join(f"{esc(human(lab))}: {s:.2f}" for lab, s in e.class_scores),
                )
            )
        for v in e.views:
            name = v.vintage or tr("this crop")
            if v.match is None:
                text = esc(tr("the model does not find this object on this crop"))
            else:
                m = v.match
                text = "<br/>".join(f"{esc(human(lab))}: {s:.2f}" for lab, s in m["class_scores"])
            rows.append((tr("Model run again on {name}").format(name=name), text))
        if e.change:
            c = e.change
            rows.append(
                (
                    tr("Change"),
                    esc(
                        tr("{change} (confidence {conf})").format(
                            change=c.get("change", ""),
                            conf="—" if c.get("confidence") is None else f"{float(c['confidence']):.2f}",
                        )
                    ),
                )
            )
        if e.tile:
            t = e.tile
            where = (
                tr("tile {id} (column {col} px, row {row} px of the run's grid)").format(
                    id=t["id"], col=t["col_px"], row=t["row_px"]
                )
                if "col_px" in t
                else tr("tile {id}").format(id=t["id"])
            )
            rows.append((tr("Found on"), esc(where)))
        rows.append((tr("Run"), esc(f"{e.run_id[:12]} — {e.run_date}")))
        model = e.model
        rows.append((tr("Model"), esc(f"{model.get('name', '')} {model.get('version', '')}".strip())))
        limits = model.get("limits") or []
        rows.append(
            (
                tr("Known limits of the model"),
                "<br/>".join("• " + esc(x) for x in limits) or esc(tr("not stated")),
            )
        )
        for note in e.notes:
            rows.append((tr("Note"), esc(note)))
        return "".join(f"<p style='margin:2px 0'><b>{esc(k)}</b><br/>{v}</p>" for k, v in rows)

    # -- occlusion ---------------------------------------------------------------------------

    def start_occlusion(self) -> tasks.IdfHrTask | None:
        from ..core.explain import occlusion_map

        if self.task is not None:
            return self.task
        exp = self.exp

        def work(progress, is_canceled):
            return occlusion_map(exp, progress=progress, cancel=is_canceled)

        self.task = tasks.IdfHrTask(
            tr("Occlusion map"),
            work,
            on_done=self._occlusion_done,
            on_error=self._occlusion_failed,
        )
        self.task.progressChanged.connect(self._on_progress)
        self.occlusion_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(tr("Computing the occlusion map…"))
        return tasks.start(self.task)

    def _on_progress(self, value: float) -> None:
        if not sip.isdeleted(self):
            self.progress.setValue(int(value))

    def cancel(self) -> None:
        if self.task is not None:
            self.status.setText(tr("Cancelling…"))
            self.task.cancel()

    def _idle(self, progress: int) -> bool:
        """Back to idle after the task; False when the panel is already gone."""
        if sip.isdeleted(self):
            return False
        self.task = None
        self.cancel_button.setEnabled(False)
        self.occlusion_button.setEnabled(True)
        self.progress.setValue(progress)
        return True

    def _occlusion_done(self, occ) -> None:
        if not self._idle(100):
            return
        self.show_crops()
        self.status.setText(
            tr(
                "Largest score drop: {drop:.2f} (score {score:.2f} without a patch), "
                "{runs} model runs in {s:.1f} s."
            ).format(
                drop=occ.max_drop,
                score=occ.base_score,
                runs=occ.runs,
                s=occ.seconds,
            )
        )

    def _occlusion_failed(self, message: str) -> None:
        if self._idle(0):
            self.status.setText(message)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        self.cancel()
        super().closeEvent(event)


class WhyDetection:
    """Wires the "Why this detection?" button, its map tool, the explain task and the panel."""

    def __init__(self, iface, button) -> None:
        self.iface = iface
        self.button = button
        self.tool: ExplainMapTool | None = None
        self.task: tasks.IdfHrTask | None = None
        self.panel: ExplainPanel | None = None
        button.setCheckable(True)
        button.setToolTip(
            tr(
                "Click a detection (or change) on the map to see what the model saw, its scores, the "
                "classes it hesitated between and the model's known limits."
            )
        )
        button.toggled.connect(self.activate)

    def activate(self, on: bool) -> None:
        canvas = self.iface.mapCanvas()
        if on:
            if self.tool is None:
                self.tool = ExplainMapTool(canvas)
                self.tool.featureClicked.connect(self.explain)
                self.tool.nothingClicked.connect(self._nothing)
                self.tool.deactivated.connect(lambda: self.button.setChecked(False))
            canvas.setMapTool(self.tool)
        elif self.tool is not None and canvas.mapTool() is self.tool:
            canvas.unsetMapTool(self.tool)

    def _nothing(self) -> None:
        self.iface.messageBar().pushInfo(
            tr("Why this detection?"),
            tr("No detection or change of IdF HR under the cursor; click inside a detected object."),
        )

    def explain(self, layer, fid: int) -> tasks.IdfHrTask:
        """Explain feature ``fid`` of ``layer`` in a task; the panel opens when it is done."""
        from ..core.explain import explain_feature

        path, name = layer_source(layer)

        def work(progress, is_canceled):
            return explain_feature(path, fid, name)

        if self.task is not None:
            self.task.cancel()
        self.task = tasks.IdfHrTask(
            tr("Why this detection?"),
            work,
            on_done=self.show,
            message_bar=self.iface.messageBar(),
        )
        return tasks.start(self.task)

    def show(self, exp) -> ExplainPanel:
        self.task = None
        if self.panel is not None:
            self.panel.close()
            self.panel.deleteLater()
        self.panel = ExplainPanel(exp, self.iface.mainWindow(), self.iface.messageBar())
        self.panel.show()
        return self.panel

    def shutdown(self) -> None:
        if self.task is not None:
            self.task.cancel()
        if self.panel is not None:
            self.panel.close()
            self.panel.deleteLater()
            self.panel = None
        if self.tool is not None:
            canvas = self.iface.mapCanvas()
            if canvas.mapTool() is self.tool:
                canvas.unsetMapTool(self.tool)
            self.tool.deleteLater()
            self.tool = None
