"""Detection tab: pick a model (see its card), imagery and extent; run locally; get a styled layer + cost."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsMapLayerProxyModel,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsFileWidget, QgsMapLayerComboBox, QgsMapToolExtent
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QWidget,
)

from ..core.errors import IdfHrError, UserInputError
from ..core.paths import cache_dir
from ..gis import detection as det
from ..gis import onnx_runtime_install as ort_install
from ..gis import tasks
from ..gis.i18n import num, tr, user_locale
from ..gis.settings import Settings
from .explain_tool import WhyDetection
from .model_card_view import card_html, provider_text
from .task_runner import no_widening, scrolled_with_footer

LOG = logging.getLogger("idf_hr.gui.detection")

try:
    ort_install.add_deps_to_sys_path()
except Exception as exc:  # pragma: no cover - no QGIS profile
    logging.getLogger("idf_hr.detection").debug("dependency folder not added: %s", exc)

EXTENT_CANVAS, EXTENT_DRAWN, EXTENT_MASK, EXTENT_LAYER, EXTENT_PLACE = (
    "canvas",
    "drawn",
    "mask",
    "layer",
    "place",
)
L93 = QgsCoordinateReferenceSystem("EPSG:2154")


class DetectionTab(QWidget):
    """Model manager + model card + extent picking + a cancellable background detection run."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.task: tasks.IdfHrTask | None = None
        self.install_task: tasks.IdfHrTask | None = None
        self.map_tool: QgsMapToolExtent | None = None
        self.drawn_extent: QgsRectangle | None = None
        self.drawn_crs: QgsCoordinateReferenceSystem | None = None
        self.last_report = None
        self.last_layer = None
        self._boundaries = None
        self._progress = {"done": 0, "total": 0, "eta": 0.0}
        self._progress_lock = threading.Lock()
        self._source = None
        self._build()
        self.refresh_runtime()
        self.reload_models()

    @staticmethod
    def tab_title() -> str:
        return tr("Detection")

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        root, footer = scrolled_with_footer(self)

        # ONNX Runtime missing: say so, offer the one-click install
        self.runtime_box = QWidget()
        rl = QGridLayout(self.runtime_box)  # message above its buttons: side by side they are cut
        rl.setContentsMargins(0, 0, 0, 0)
        self.runtime_label = QLabel()
        self.runtime_label.setWordWrap(True)
        self.install_button = QPushButton(tr("Install ONNX Runtime"))
        self.install_button.setToolTip(
            tr(
                "Installs onnxruntime into a folder of your QGIS profile; QGIS's own packages are not changed."
            )
        )
        self.install_button.clicked.connect(self.install_runtime)
        # only when this QGIS session cannot load the runtime it just installed
        self.restart_button = QPushButton(tr("Restart QGIS"))
        self.restart_button.setToolTip(tr("Quit QGIS (asking to save your project) and start it again."))
        self.restart_button.clicked.connect(self.restart_qgis)
        self.restart_button.setVisible(False)
        rl.addWidget(self.runtime_label, 0, 0, 1, 2)
        rl.addWidget(self.install_button, 1, 0)
        rl.addWidget(self.restart_button, 1, 1)
        root.addWidget(self.runtime_box)

        form = QFormLayout()
        row = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.import_button = QPushButton(tr("Import…"))
        self.import_button.setToolTip(tr("Copy an .onnx model (and its .json card) into your models folder."))
        self.import_button.clicked.connect(self._ask_import)
        self.download_button = QPushButton(tr("Download…"))
        self.download_button.setToolTip(tr("Download a model from a URL; its sha256 is verified."))
        self.download_button.clicked.connect(self._ask_download)
        self.catalog_button = QPushButton(tr("Shared catalog…"))
        self.catalog_button.setToolTip(tr("Models of a STAC MLM catalog: cards first, checksum verified."))
        self.catalog_button.clicked.connect(self.open_model_catalog)
        self.publish_button = QPushButton(tr("Publish this model…"))
        self.publish_button.setToolTip(tr("Write this model as a STAC MLM item into a catalog folder."))
        self.publish_button.clicked.connect(self._ask_publish)
        row.addWidget(self.model_combo, 1)
        form.addRow(tr("Model"), row)
        root.addLayout(form)
        # the model buttons in a grid of two columns: one row of four is cut in a narrow dock
        model_buttons = QGridLayout()
        for i, button in enumerate(
            (self.import_button, self.download_button, self.catalog_button, self.publish_button)
        ):
            model_buttons.addWidget(button, i // 2, i % 2)
        root.addLayout(model_buttons)

        # the card is collapsed by default, so the run controls stay in view in a small dock
        self.card_toggle = QToolButton()
        self.card_toggle.setText(tr("Model card"))
        self.card_toggle.setCheckable(True)
        self.card_toggle.setChecked(False)
        self.card_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.card_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.card_toggle.setAutoRaise(True)
        self.card_toggle.setToolTip(
            tr("Show or hide the model card (classes, resolution, licence, metrics).")
        )
        root.addWidget(self.card_toggle)
        self.card_label = QLabel()
        self.card_label.setWordWrap(True)
        self.card_label.setTextFormat(Qt.TextFormat.RichText)
        self.card_label.setFrameShape(QLabel.Shape.StyledPanel)
        self.card_label.setVisible(False)
        self.card_toggle.toggled.connect(self._show_card)
        root.addWidget(self.card_label)

        form2 = QFormLayout()
        self.layer_combo = QgsMapLayerComboBox()
        self.layer_combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        self.layer_combo.layerChanged.connect(self._update_estimate)
        form2.addRow(tr("Imagery"), self.layer_combo)

        ext_row = QHBoxLayout()
        self.extent_combo = QComboBox()
        self.extent_combo.addItem(tr("Visible map extent"), EXTENT_CANVAS)
        self.extent_combo.addItem(tr("Rectangle drawn on the map"), EXTENT_DRAWN)
        self.extent_combo.addItem(tr("Selected polygons of a layer (mask)"), EXTENT_MASK)
        self.extent_combo.addItem(tr("Whole imagery layer"), EXTENT_LAYER)
        self.extent_combo.currentIndexChanged.connect(self._extent_mode_changed)
        self.draw_button = QPushButton(tr("Draw…"))
        self.draw_button.setToolTip(tr("Drag a rectangle on the map: detection runs there."))
        self.draw_button.clicked.connect(self.start_drawing)
        ext_row.addWidget(self.extent_combo, 1)
        ext_row.addWidget(self.draw_button)
        form2.addRow(tr("Where"), ext_row)
        self.mask_combo = QgsMapLayerComboBox()
        self.mask_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.mask_label = QLabel(tr("Mask layer"))
        form2.addRow(self.mask_label, self.mask_combo)
        self.place_combo = QComboBox()
        self.place_combo.setEditable(True)
        self.place_label = QLabel(tr("Commune or EPT"))
        form2.addRow(self.place_label, self.place_combo)
        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        form2.addRow("", self.estimate_label)

        thr = QHBoxLayout()
        self.conf_spin = QDoubleSpinBox()
        self.conf_spin.setRange(0.01, 1.0)
        self.conf_spin.setSingleStep(0.05)
        self.conf_spin.setDecimals(2)
        self.conf_spin.setToolTip(tr("Objects scored below this confidence are dropped."))
        self.iou_spin = QDoubleSpinBox()
        self.iou_spin.setRange(0.05, 1.0)
        self.iou_spin.setSingleStep(0.05)
        self.iou_spin.setDecimals(2)
        self.iou_spin.setToolTip(tr("Overlapping boxes above this IoU are merged (non-maximum suppression)."))
        thr.addWidget(self.conf_spin)
        thr.addWidget(QLabel(tr("IoU")))
        thr.addWidget(self.iou_spin)
        thr.addStretch(1)
        form2.addRow(tr("Confidence"), thr)
        self.task_combo = QComboBox()
        self.task_combo.addItem(tr("automatic"), None)
        for task_name, label in (
            ("detection", tr("object detection (boxes)")),
            ("obb", tr("oriented boxes")),
            ("instance_segmentation", tr("instance segmentation")),
            ("semantic_segmentation", tr("semantic segmentation (classes per pixel)")),
        ):
            self.task_combo.addItem(label, task_name)
        self.task_combo.setToolTip(
            tr("The type is read from the model; force it here if the model is misread.")
        )
        form2.addRow(tr("Model type"), self.task_combo)

        self.output_widget = QgsFileWidget()
        self.output_widget.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.output_widget.setFilter(tr("GeoPackage (*.gpkg)"))
        self.output_widget.setFilePath(str(self.default_output()))
        form2.addRow(tr("Output"), self.output_widget)
        form2.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        no_widening(
            self.model_combo,
            self.extent_combo,
            self.task_combo,
            self.place_combo,
            self.layer_combo,
            self.mask_combo,
        )
        root.addLayout(form2)
        # "Why this detection?" (issue 9 item 10); the guided session finds it by its objectName
        self.why_button = QPushButton(tr("Why this detection?"))
        self.why_button.setObjectName("whyDetectionButton")
        self.why = WhyDetection(self.iface, self.why_button)
        root.addWidget(self.why_button)
        self._build_where_to_run(root)
        root.addStretch(1)

        buttons = QHBoxLayout()
        self.run_button = QPushButton(tr("Run detection"))
        self.run_button.setObjectName("detectionRunButton")  # targeted by the guided session
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton(tr("Cancel"))
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        # run, progress, status and summary stay below the scrolling form, always in view
        footer.addLayout(buttons)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.progress.setFormat("")
        footer.addWidget(self.progress)
        self.provider_label = QLabel()
        self.provider_label.setWordWrap(True)
        root.addWidget(self.provider_label)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        footer.addWidget(self.status_label)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(self.summary_label.textInteractionFlags() | 1)
        footer.addWidget(self.summary_label)
        self.report_button = QPushButton(tr("Report…"))  # PDF report of the last result (issue 8)
        self.report_button.setToolTip(tr("Write a PDF report of this result (print layout, editable)."))
        self.report_button.setEnabled(False)
        self.report_button.clicked.connect(self._open_report)
        buttons.addWidget(self.report_button)
        self._setup_place_option()
        self._extent_mode_changed()

    def _build_where_to_run(self, root) -> None:
        """The collapsed "Advanced: where to run" section: this computer, local cluster, scheduler."""
        self.where_toggle = QToolButton()
        self.where_toggle.setText(tr("Advanced: where to run"))
        self.where_toggle.setCheckable(True)
        self.where_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.where_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.where_toggle.setAutoRaise(True)
        root.addWidget(self.where_toggle)
        self.where_box = QWidget()
        form = QFormLayout(self.where_box)
        form.setContentsMargins(0, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        self.where_combo = QComboBox()
        self.where_combo.addItem(tr("This computer"), 0)
        self.where_combo.addItem(tr("Local Dask cluster"), 1)
        self.where_combo.addItem(tr("Dask scheduler"), 2)
        self.where_combo.setToolTip(
            tr("A Dask cluster runs the jobs of the tile plan in several processes or machines.")
        )
        form.addRow(tr("Run on"), self.where_combo)
        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(1, 256)
        self.workers_spin.setValue(2)
        form.addRow(tr("Workers"), self.workers_spin)
        self.scheduler_edit = QLineEdit()
        self.scheduler_edit.setPlaceholderText("tcp://host:8786")
        form.addRow(tr("Scheduler"), self.scheduler_edit)
        self.dask_label = QLabel()
        self.dask_label.setWordWrap(True)
        self.dask_label.setOpenExternalLinks(True)
        form.addRow(self.dask_label)
        self.dask_install_button = QPushButton(tr("Install Dask"))
        self.dask_install_button.clicked.connect(self.install_dask)
        form.addRow(self.dask_install_button)
        no_widening(self.where_combo)
        self.where_box.setVisible(False)
        root.addWidget(self.where_box)
        self.where_toggle.toggled.connect(self._show_where)
        self.where_combo.currentIndexChanged.connect(self._where_changed)
        self._where_changed()

    def _show_where(self, shown: bool) -> None:
        self.where_box.setVisible(shown)
        self.where_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _where_changed(self, *_args) -> None:
        from ..gis import dask_runtime

        where = self.where_combo.currentData() or 0
        self.workers_spin.setEnabled(where == 1)
        self.scheduler_edit.setEnabled(where == 2)
        missing = bool(where) and not dask_runtime.dask_available()
        self.dask_label.setText(dask_runtime.missing_text() if missing else "")
        self.dask_install_button.setVisible(missing)

    def install_dask(self) -> None:
        from ..gis import dask_runtime

        self.dask_install_button.setEnabled(False)

        def finished(*_args) -> None:
            self.install_task = None
            self.dask_install_button.setEnabled(True)
            self._where_changed()

        self.install_task = dask_runtime.install_task(
            on_done=finished,
            on_error=lambda msg: (finished(), self.dask_label.setText(msg)),
            message_bar=self.iface.messageBar(),
        )
        tasks.start(self.install_task)

    def _show_card(self, shown: bool) -> None:
        self.card_label.setVisible(shown)
        self.card_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    # -- runtime -------------------------------------------------------------------------
    def refresh_runtime(self) -> bool:
        """Show whether ONNX Runtime is importable; offer the install when it is not."""
        ok = ort_install.onnxruntime_available()
        self.runtime_box.setVisible(not ok)
        if not ok:
            self.runtime_label.setText(
                tr(
                    "ONNX Runtime is not installed in this QGIS, so detections cannot run. Install it "
                    "with one click (about 20 MB, into your QGIS profile; QGIS itself is not changed)."
                )
            )
        self.run_button.setEnabled(ok and self.task is None)
        self.run_button.setToolTip("" if ok else tr("Install ONNX Runtime first (button above)."))
        self._show_provider()
        return ok

    def _show_provider(self, providers=None, threads=None) -> None:
        from ..core.inference.model import available_providers, physical_cores

        prov = providers if providers is not None else available_providers()
        self.provider_label.setText(
            tr("Execution provider: {p}").format(p=provider_text(prov, threads or physical_cores()))
        )

    def install_runtime(self) -> None:
        if self.install_task is not None:
            return
        self.install_button.setEnabled(False)
        self.status_label.setText(tr("Installing ONNX Runtime…"))

        def done(result) -> None:
            self.install_task = None
            self.install_button.setEnabled(True)
            self.runtime_installed(result["target"])

        def failed(message: str) -> None:
            self.install_task = None
            self.install_button.setEnabled(True)
            self.status_label.setText(message)

        self.install_task = ort_install.install_task(done, failed, self.iface.messageBar())
        tasks.start(self.install_task)

    def runtime_installed(self, folder: str) -> bool:
        """Load the ONNX Runtime just installed in ``folder`` into this QGIS and re-read the models.

        True when detections can run at once; otherwise the tab says to restart QGIS, with a button.
        """
        err = ort_install.load_runtime(folder)
        if err:
            message = tr(
                "ONNX Runtime was installed in {path}, but this QGIS session cannot load it ({err}). "
                "Restart QGIS, then run the detection."
            ).format(path=folder, err=err)
            self.runtime_box.setVisible(True)
            self.runtime_label.setText(message)
            self.status_label.setText(message)
            self.install_button.setVisible(False)
            self.restart_button.setVisible(True)
            self.run_button.setEnabled(False)
            self.run_button.setToolTip(tr("Restart QGIS first (button above)."))
            return False
        self.refresh_runtime()
        self.reload_models()
        self.status_label.setText(
            tr("ONNX Runtime installed in {path}; detections can run now.").format(path=folder)
        )
        return True

    def restart_qgis(self) -> None:
        """Quit QGIS through its own Exit action (it asks to save the project) and start it again."""
        from qgis.core import QgsApplication
        from qgis.PyQt.QtCore import QProcess

        app = QgsApplication.instance()
        args = list(app.arguments())

        def relaunch() -> None:
            QProcess.startDetached(args[0], args[1:])

        app.aboutToQuit.connect(relaunch)  # not reached if the user cancels the quit
        self.iface.actionExit().trigger()

    # -- models --------------------------------------------------------------------------
    def registry(self):
        from ..core.inference.models_registry import ModelRegistry

        if getattr(self, "_registry", None) is None:
            self._registry = ModelRegistry(user_dir=Settings.DETECTION_MODELS_DIR.value() or None)
        return self._registry

    def reload_models(self, select: str | None = None) -> None:
        """Fill the model list (bundled, then the user's); keep or set the selection."""
        want = select or self.model_combo.currentData() or Settings.DETECTION_LAST_MODEL.value()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        entries = self.registry().entries()
        for e in entries:
            self.model_combo.addItem(e.display_name(), e.id)
        idx = self.model_combo.findData(want) if want else -1
        self.model_combo.setCurrentIndex(idx if idx >= 0 else (0 if entries else -1))
        self.model_combo.blockSignals(False)
        if not entries:
            self.card_label.setText(
                tr(
                    "No model yet: import an .onnx model (Import…) or download one (Download…). The "
                    "bundled demo model appears here once it has been built (make model)."
                )
            )
        self._model_changed()

    def current_entry(self):
        mid = self.model_combo.currentData()
        if not mid:
            return None
        for e in self.registry().entries():
            if e.id == mid:
                return e
        return None

    def _model_changed(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        card = entry.model_card()
        self.card_label.setText(card_html(card))
        if entry.spec is not None:
            self.conf_spin.setValue(entry.spec.conf)
            self.iou_spin.setValue(entry.spec.iou)
            Settings.DETECTION_LAST_MODEL.set(entry.id)
        self._update_estimate()

    def import_model(self, path: str) -> None:
        """Import a model file (+ card) into the user folder and select it."""
        try:
            entry = self.registry().import_file(path)
        except IdfHrError as exc:
            self.status_label.setText(str(exc))
            return
        self.status_label.setText(
            tr("Model “{name}” imported into {folder}.").format(name=entry.name, folder=entry.path.parent)
        )
        self.reload_models(select=entry.id)

    def download_model(self, url: str, sha256: str) -> tasks.IdfHrTask:
        """Download a model with a verified sha256 in the background; selects it when done."""

        def work(progress, is_canceled):
            def prog(have, total):
                if total:
                    progress(have / total)

            return self.registry().download(url, sha256, progress=prog, cancel=is_canceled)

        def done(entry) -> None:
            self.status_label.setText(tr("Model “{name}” downloaded and verified.").format(name=entry.name))
            self.reload_models(select=entry.id)

        task = tasks.IdfHrTask(
            tr("IdF HR: downloading a model"),
            work,
            on_done=done,
            on_error=self.status_label.setText,
            message_bar=self.iface.messageBar(),
        )
        return tasks.start(task)

    def _ask_import(self) -> None:
        path, _f = QFileDialog.getOpenFileName(
            self, tr("Import an ONNX model"), "", tr("ONNX models (*.onnx)")
        )
        if path:
            self.import_model(path)

    def _ask_download(self) -> None:
        url, ok = QInputDialog.getText(self, tr("Download a model"), tr("URL of the .onnx file:"))
        if not ok or not url.strip():
            return
        sha, ok = QInputDialog.getText(
            self,
            tr("Download a model"),
            tr("Its sha256 (64 hexadecimal characters, given by the publisher):"),
        )
        if ok:
            self.download_model(url.strip(), sha.strip())

    def open_model_catalog(self, url: str = ""):
        """The shared-catalog dialog of the model manager (non-modal); returns it."""
        from .model_catalog_dialog import ModelCatalogDialog

        self.catalog_dialog = ModelCatalogDialog(self, url, self)
        self.catalog_dialog.show()
        return self.catalog_dialog

    def publish_model(self, folder: str):
        """Publish the selected model as a STAC MLM item into ``folder``; returns the item path or None."""
        from ..core.mlm import publish_model

        entry = self.current_entry()
        if entry is None:
            return None
        try:
            item = publish_model(entry.path, folder)
        except IdfHrError as exc:
            self.status_label.setText(str(exc))
            return None
        self.status_label.setText(
            tr("Model “{name}” published in {folder}: partners add this folder as a shared catalog.").format(
                name=entry.name, folder=folder
            )
        )
        return item

    def _ask_publish(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, tr("Publish this model into a catalog folder"))
        if folder:
            self.publish_model(folder)

    # -- extent --------------------------------------------------------------------------
    def _setup_place_option(self) -> None:
        if det.boundaries_cache() is not None:
            self.extent_combo.addItem(tr("Commune or EPT"), EXTENT_PLACE)
            self.extent_combo.setToolTip("")
        else:
            self.extent_combo.setToolTip(
                tr(
                    "Detection by commune or EPT needs the boundaries: load them once in the Open data "
                    "tab, then reopen this tab."
                )
            )

    def extent_mode(self) -> str:
        return self.extent_combo.currentData()

    def set_extent_mode(self, mode: str) -> None:
        idx = self.extent_combo.findData(mode)
        if idx < 0:
            raise UserInputError(tr("This extent option is not available."))
        self.extent_combo.setCurrentIndex(idx)

    def _extent_mode_changed(self) -> None:
        mode = self.extent_mode()
        self.draw_button.setVisible(mode == EXTENT_DRAWN)
        for w in (self.mask_label, self.mask_combo):
            w.setVisible(mode == EXTENT_MASK)
        for w in (self.place_label, self.place_combo):
            w.setVisible(mode == EXTENT_PLACE)
        if mode == EXTENT_PLACE and self.place_combo.count() == 0:
            try:
                self._boundaries = det.load_boundaries()
            except Exception as exc:  # a corrupt cache
                self.status_label.setText(str(exc))
                self._boundaries = None
            if self._boundaries is not None:
                names = [e.nom for e in self._boundaries.epts] + [c.nom for c in self._boundaries.communes]
                self.place_combo.addItems(names)
        self._update_estimate()

    def start_drawing(self) -> None:
        canvas = self.iface.mapCanvas()
        if self.map_tool is None:
            self.map_tool = QgsMapToolExtent(canvas)
            self.map_tool.extentChanged.connect(self._extent_drawn)
        canvas.setMapTool(self.map_tool)
        self.status_label.setText(tr("Drag a rectangle on the map."))

    def _extent_drawn(self, rect: QgsRectangle) -> None:
        if rect.isEmpty():
            return
        self.set_drawn_extent(rect, self.iface.mapCanvas().mapSettings().destinationCrs())
        if self.map_tool is not None:
            self.iface.mapCanvas().unsetMapTool(self.map_tool)

    def set_drawn_extent(self, rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> None:
        self.drawn_extent = QgsRectangle(rect)
        self.drawn_crs = QgsCoordinateReferenceSystem(crs)
        self.status_label.setText(
            tr("Rectangle of {w} × {h} map units set.").format(w=num(rect.width()), h=num(rect.height()))
        )

    def _whole_layer_area_m2(self, layer) -> float:
        crs = layer.crs()
        ext = layer.extent()
        if crs.isGeographic() or crs.authid() in ("EPSG:3857", "EPSG:900913"):
            ext = QgsCoordinateTransform(crs, L93, QgsProject.instance()).transformBoundingBox(ext)
        return ext.width() * ext.height()

    def _update_estimate(self, *_args) -> None:
        try:
            self._show_estimate()
        except (IdfHrError, RuntimeError) as exc:  # never let a slot raise (PyQt would abort)
            LOG.debug("no estimate: %s", exc)

    def _show_estimate(self) -> None:
        layer = self.layer_combo.currentLayer()
        entry = self.current_entry()
        if self.extent_mode() != EXTENT_LAYER or layer is None or entry is None or entry.spec is None:
            self.estimate_label.setText("")
            return
        from ..core.inference.models_registry import estimate_run

        est = estimate_run(entry.spec, self._whole_layer_area_m2(layer))
        self.estimate_label.setText(
            tr("Whole layer: {km2} km², ≈ {mpx} Mpx at {gsd} cm, about {t} of computing.").format(
                km2=num(est["km2"], 2),
                mpx=num(est["pixels"] / 1e6),
                gsd=num(est["gsd_m"] * 100),
                t=_duration(est["seconds"]),
            )
        )

    def run_arguments(self, layer) -> dict:
        """extent / extent_crs / mask / mask_crs for the chosen extent mode (main thread)."""
        mode = self.extent_mode()
        if mode == EXTENT_CANVAS:
            canvas = self.iface.mapCanvas()
            r = canvas.extent()
            if r.isEmpty():
                raise UserInputError(tr("The map shows no area yet: zoom to the imagery first."))
            crs = canvas.mapSettings().destinationCrs()
            return {"extent": _bbox(r), "extent_crs": crs.toWkt()}
        if mode == EXTENT_DRAWN:
            if self.drawn_extent is None:
                raise UserInputError(tr("Draw a rectangle on the map first (Draw…)."))
            return {"extent": _bbox(self.drawn_extent), "extent_crs": self.drawn_crs.toWkt()}
        if mode == EXTENT_MASK:
            geoms, crs = det.polygons_of_layer(self.mask_combo.currentLayer(), selected_only=True)
            return {"mask": geoms, "mask_crs": crs}
        if mode == EXTENT_PLACE:
            if self._boundaries is None:
                raise UserInputError(tr("Load the commune boundaries in the Open data tab first."))
            geom, crs = det.boundary_mask(self._boundaries, self.place_combo.currentText().strip())
            return {"mask": [geom], "mask_crs": crs}
        return {}

    def default_output(self) -> Path:
        home = QgsProject.instance().homePath()
        folder = Path(home) if home else cache_dir() / "detections"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "idfhr_detections.gpkg"

    # -- run -----------------------------------------------------------------------------
    def _confirm_large(self, text: str) -> bool:
        answer = QMessageBox.question(
            self, tr("Large detection"), text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        )
        return answer == QMessageBox.StandardButton.Yes

    def run(self) -> tasks.IdfHrTask | None:
        """Start a detection task with the current choices; returns it (None when refused)."""
        if self.task is not None:
            return None
        if not self.refresh_runtime():
            self.status_label.setText(tr("Install ONNX Runtime first (button above)."))
            return None
        try:
            args = self._prepare()
        except IdfHrError as exc:
            self.status_label.setText(str(exc))
            return None
        if args is None:
            return None
        spec, src, kwargs = args
        self._source = src
        with self._progress_lock:
            self._progress = {"done": 0, "total": 0, "eta": 0.0}

        def progress(done, total, eta):
            with self._progress_lock:
                self._progress = {"done": done, "total": total, "eta": eta}

        where = self.where_combo.currentData() or 0
        workers, scheduler = self.workers_spin.value(), self.scheduler_edit.text().strip()
        self._dashboard = ""

        def dashboard(url: str) -> None:
            self._dashboard = url

        def work(task_progress, is_canceled):
            from ..core.inference import run_detection

            def prog(done, total, eta):
                progress(done, total, eta)
                task_progress(done / max(1, total))

            if where:  # jobs on Dask: progress counts the finished jobs (futures)
                from ..gis.dask_runtime import run_on_dask

                kw = {k: v for k, v in kwargs.items() if k not in ("out_path", "reader_factory")}
                return run_on_dask(
                    spec.path,
                    src.raster,
                    kwargs["out_path"],
                    workers=workers if where == 1 else None,
                    scheduler=scheduler if where == 2 else None,
                    on_dashboard=dashboard,
                    progress=prog,
                    cancel=is_canceled,
                    task=spec.task,
                    **kw,
                )
            return run_detection(spec, src.raster, progress=prog, cancel=is_canceled, **kwargs)

        self.task = tasks.IdfHrTask(
            tr("IdF HR: detection with {model}").format(model=spec.name),
            work,
            on_done=lambda report: self._run_done(report, spec),
            on_error=self._run_failed,
            message_bar=self.iface.messageBar(),
        )
        self.task.progressChanged.connect(self._show_progress)
        self._set_running(True)
        self.summary_label.setText("")
        self.status_label.setText(tr("Detection running…"))
        self._t0 = time.monotonic()
        return tasks.start(self.task)

    def _prepare(self):
        entry = self.current_entry()
        if entry is None:
            raise UserInputError(tr("Choose a model first, or import one."))
        if entry.spec is None:
            raise UserInputError(entry.error or tr("This model cannot be used."))
        spec = entry.spec
        forced = self.task_combo.currentData()
        if forced and forced != spec.task:
            from ..core.inference import load_model_spec

            spec = load_model_spec(entry.path, task=forced)
        layer = self.layer_combo.currentLayer()
        if layer is None:
            raise UserInputError(tr("Choose the imagery layer to run the model on."))
        out = self.output_widget.filePath().strip()
        if not out:
            raise UserInputError(tr("Choose the output GeoPackage."))
        if not out.lower().endswith(".gpkg"):
            out += ".gpkg"
        from ..core.inference.writer import check_output_path

        check_output_path(out)
        ext = self.run_arguments(layer)
        if self.extent_mode() == EXTENT_LAYER:
            area_km2 = self._whole_layer_area_m2(layer) / 1e6
            limit = float(Settings.DETECTION_CONFIRM_KM2.value())
            gsd = spec.gsd_m or 0.2
            if area_km2 * (0.2 / gsd) ** 2 > limit:
                from ..core.inference.models_registry import estimate_run

                est = estimate_run(spec, area_km2 * 1e6)
                text = tr(
                    "The whole layer covers {km2} km² (≈ {mpx} Mpx at {gsd} cm): the run may "
                    "take about {t}. Run it anyway?"
                ).format(
                    km2=num(area_km2, 1),
                    mpx=num(est["pixels"] / 1e6),
                    gsd=num(est["gsd_m"] * 100),
                    t=_duration(est["seconds"]),
                )
                if not self._confirm_large(text):
                    self.status_label.setText(tr("Detection not started."))
                    return None
        src = det.raster_source(layer, spec.gsd_m)
        where = self.where_combo.currentData() or 0
        if where:
            from ..gis.dask_runtime import check_dask_execution

            try:
                check_dask_execution(src, where, self.scheduler_edit.text())
            except IdfHrError:
                src.close()
                raise
        kwargs = dict(
            ext,
            out_path=out,
            conf=self.conf_spin.value(),
            iou=self.iou_spin.value(),
            reader_factory=src.reader_factory,
            source=src.source_id,
            vintage=src.vintage,
        )
        return spec, src, kwargs

    def _show_progress(self, value: float) -> None:
        with self._progress_lock:
            p = dict(self._progress)
        self.progress.setValue(int(value))
        if p["total"] and self.where_combo.currentData():
            self.progress.setFormat(
                tr("{done}/{total} jobs, ETA {eta}").format(
                    done=p["done"], total=p["total"], eta=_duration(p["eta"])
                )
            )
        elif p["total"]:
            self.progress.setFormat(
                tr("{done}/{total} tiles, ETA {eta}").format(
                    done=p["done"], total=p["total"], eta=_duration(p["eta"])
                )
            )
        if getattr(self, "_dashboard", ""):
            self.dask_label.setText(
                tr('Dask dashboard: <a href="{url}">{url}</a>').format(url=self._dashboard)
            )

    def progress_text(self) -> str:
        return self.progress.format()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for w in (
            self.model_combo,
            self.import_button,
            self.download_button,
            self.catalog_button,
            self.publish_button,
            self.layer_combo,
            self.extent_combo,
            self.where_combo,
        ):
            w.setEnabled(not running)
        if not running:
            self.progress.setValue(0)
            self.progress.setFormat("")

    def _end_run(self) -> None:
        self.task = None
        if self._source is not None:
            self._source.close()
            self._source = None
        self._set_running(False)

    def _run_failed(self, message: str) -> None:
        self._end_run()
        self.status_label.setText(message)

    def _run_done(self, report, spec) -> None:
        self._end_run()
        self.last_report = report
        try:
            self.last_layer = det.add_result_layer(report.out_path, report.layer, spec)
        except IdfHrError as exc:
            self.status_label.setText(str(exc))
            return
        self._show_provider(report.providers, report.threads)
        self.summary_label.setText(summary_text(report, spec.display_labels(user_locale()) if spec else None))
        self.report_button.setEnabled(True)
        self.status_label.setText(
            tr("Done: layer “{layer}” added to the group “{group}”.").format(
                layer=report.layer, group=det.RESULTS_GROUP
            )
        )
        self.iface.messageBar().pushMessage(
            tr("IdF HR detection"),
            tr("{n} object(s) on {km2} km² in {s} s (~{wh} Wh).").format(
                n=num(report.features),
                km2=num(report.km2, 3),
                s=num(report.duration_s, 1),
                wh=num(report.energy_wh, 3),
            ),
            Qgis.MessageLevel.Success,
            8,
        )

    def _open_report(self) -> None:
        from .report_dialog import show_report_dialog

        show_report_dialog(self.iface, self, self.last_layer)

    def cancel(self) -> None:
        if self.task is not None:
            self.status_label.setText(tr("Cancelling…"))
            self.task.cancel()

    def shutdown(self) -> None:
        try:  # the combo follows the project: stop reacting once the tab is going away
            self.layer_combo.layerChanged.disconnect(self._update_estimate)
        except (TypeError, RuntimeError):
            pass
        for task in (self.task, self.install_task):
            if task is not None:
                task.cancel()
        self.why.shutdown()
        if self.map_tool is not None:
            self.iface.mapCanvas().unsetMapTool(self.map_tool)
            self.map_tool.deleteLater()
            self.map_tool = None


def summary_text(report, class_labels: dict | None = None) -> str:
    """Counts/areas per class (named in ``class_labels`` when given), then the cost (duration, CPU s,
    km², energy + method); numbers in the UI locale's format."""
    lines = [
        tr("{n} object(s) found on {km2} km².").format(n=num(report.features), km2=num(report.km2, 3)),
    ]
    for label, n in sorted(report.counts.items()):
        lines.append(
            tr("• {label}: {n} ({area} m²)").format(
                label=(class_labels or {}).get(label, label),
                n=num(n),
                area=num(report.areas_m2.get(label, 0.0), 1),
            )
        )
    lines.append(
        tr("Duration {dur} s, CPU {cpu} s, {km2} km², energy ≈ {wh} Wh.").format(
            dur=num(report.duration_s, 1),
            cpu=num(report.cpu_s, 1),
            km2=num(report.km2, 3),
            wh=num(report.energy_wh, 4),
        )
    )
    lines.append(tr("Energy method: {method}").format(method=report.energy_method))
    lines.extend(report.notes)
    return "\n".join(lines)


def _bbox(r: QgsRectangle) -> tuple:
    return (r.xMinimum(), r.yMinimum(), r.xMaximum(), r.yMaximum())


def _duration(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s < 90:
        return tr("{s} s").format(s=s)
    if s < 5400:
        return tr("{m} min").format(m=round(s / 60))
    return tr("{h} h").format(h=num(s / 3600, 1))
