"""Analyse tab: change between two vintages and statistics per zone (communes, EPT, MGP, any polygons).

The widgets only gather inputs; the work is the Qt-free chain of ``core.analysis.workflow`` run
in a background task, and ``gis.analysis_layers`` loads and styles the results.
"""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsMapLayerProxyModel, QgsProject, QgsVectorLayer
from qgis.gui import QgsFieldComboBox, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QWidget,
)

from ..core.analysis.io import is_result_layer
from ..core.analysis.workflow import (
    DEFAULT_EXCLUDED,
    ZONE_NAME_FIELDS,
    check_new_layer,
    parse_classes,
    zone_summary,
)
from ..core.errors import IdfHrError
from ..gis import analysis_layers as al
from ..gis import opendata_layers as odl
from ..gis.i18n import tr
from .task_runner import (
    RunsTasks,
    TaskRunner,
    no_widening,
    scrolled_with_footer,
    task_controls,
    wrapping_check,
)

ZONE_KINDS = ("commune", "ept", "mgp", "layer")


class AnalysisTab(QWidget, RunsTasks):
    """Compare two vintages, then count per zone; every figure says how much was analysed."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.change_layer: QgsVectorLayer | None = None
        self.zones_layer: QgsVectorLayer | None = None
        self._build()

    @staticmethod
    def tab_title() -> str:
        return tr("Analyse")

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        # the form scrolls, the statistics button, cancel, progress and status stay in view
        root, footer = scrolled_with_footer(self)

        change = QGroupBox(tr("Change between two vintages"))
        form = QFormLayout(change)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # pickers get the whole width
        self.mode_layers = QRadioButton(tr("Two detection layers"))
        self.mode_images = QRadioButton(tr("Two imagery layers + a model"))
        self.mode_layers.setChecked(True)
        self._modes = QButtonGroup(self)
        self._modes.addButton(self.mode_layers)
        self._modes.addButton(self.mode_images)
        form.addRow(wrapping_check(self.mode_layers))
        form.addRow(wrapping_check(self.mode_images))
        self.before_layer, self.after_layer = QgsMapLayerComboBox(), QgsMapLayerComboBox()
        self.before_raster, self.after_raster = QgsMapLayerComboBox(), QgsMapLayerComboBox()
        for combo in (self.before_layer, self.after_layer):
            combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        for combo in (self.before_raster, self.after_raster):
            combo.setFilters(QgsMapLayerProxyModel.Filter.RasterLayer)
        form.addRow(tr("First vintage"), self.before_layer)
        form.addRow(tr("Second vintage"), self.after_layer)
        form.addRow(tr("First imagery"), self.before_raster)
        form.addRow(tr("Second imagery"), self.after_raster)
        self.model_widget = QgsFileWidget()
        self.model_widget.setFilter(tr("ONNX models (*.onnx)"))
        form.addRow(tr("Model"), self.model_widget)
        self.vintages_edit = QLineEdit("2024,2026")
        self.vintages_edit.setToolTip(tr("Names of the two vintages, stored with every result."))
        form.addRow(tr("Vintages"), self.vintages_edit)
        extent_note = QLabel(tr("The imagery is analysed over the current map view."))
        extent_note.setWordWrap(True)
        form.addRow(extent_note)
        self.exclude_edit = QLineEdit(",".join(DEFAULT_EXCLUDED))
        self.exclude_edit.setToolTip(
            tr(
                "Cars are parked elsewhere on every flight, so their changes say nothing about the "
                "territory: they are left out by default. Clear the field to keep them."
            )
        )
        exclude_label = QLabel(tr("Classes left out (cars move)"))
        exclude_label.setWordWrap(True)
        form.addRow(exclude_label, self.exclude_edit)
        self.change_output = QgsFileWidget()
        self.change_output.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.change_output.setFilter(tr("GeoPackage (*.gpkg)"))
        form.addRow(tr("Output"), self.change_output)
        buttons, self.stats_button, self.cancel_button, self.progress = task_controls(
            tr("Compute statistics")
        )
        self.compare_button = QPushButton(tr("Compare"))
        self.compare_button.setObjectName("analysisCompareButton")  # targeted by the guided session
        form.addRow(self.compare_button)
        root.addWidget(change)
        for w in (self.mode_layers, self.mode_images):
            w.toggled.connect(self._sync_mode)

        stats = QGroupBox(tr("Statistics per zone"))
        sform = QFormLayout(stats)
        sform.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.stats_input = QgsMapLayerComboBox()
        self.stats_input.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        sform.addRow(tr("Detections or changes"), self.stats_input)
        self.zones_kind = QComboBox()
        for label, kind in zip(
            (tr("MGP communes"), tr("EPT"), tr("Whole MGP"), tr("A zones layer")), ZONE_KINDS
        ):
            self.zones_kind.addItem(label, kind)
        sform.addRow(tr("Zones"), self.zones_kind)
        self.zones_layer_combo = QgsMapLayerComboBox()
        self.zones_layer_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.zones_layer_combo.setAllowEmptyLayer(True)
        self.name_field = QgsFieldComboBox()
        self.name_field.setAllowEmptyFieldName(True)
        self.zones_layer_combo.layerChanged.connect(self._zones_layer_changed)
        sform.addRow(tr("Zones layer"), self.zones_layer_combo)
        sform.addRow(tr("Field naming the zones"), self.name_field)
        self.indicator = QComboBox()
        for key in al.INDICATORS:
            self.indicator.addItem(al.indicator_label(key), key)
        sform.addRow(tr("Indicator on the map"), self.indicator)
        self.table_output = QgsFileWidget()
        self.table_output.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.table_output.setFilter(tr("CSV (*.csv);;Excel (*.xlsx)"))
        sform.addRow(tr("Table (CSV/XLSX)"), self.table_output)
        root.addWidget(stats)

        self.report_button = QPushButton(tr("Report…"))
        self.report_button.setToolTip(tr("Make a PDF/HTML report of the selected result layer."))
        root.addWidget(self.report_button)
        root.addStretch(1)
        self.status = QLabel()
        self.status.setWordWrap(True)
        footer.addLayout(buttons)
        footer.addWidget(self.progress)
        footer.addWidget(self.status)
        no_widening(
            self.before_layer,
            self.after_layer,
            self.before_raster,
            self.after_raster,
            self.stats_input,
            self.zones_kind,
            self.zones_layer_combo,
            self.name_field,
            self.indicator,
        )

        # only detection / change layers are offered (never e.g. the catalog footprints layer)
        self._result_combos = (self.before_layer, self.after_layer, self.stats_input)
        for combo in self._result_combos:
            combo.setPlaceholderText(tr("No detection layer yet: run one first"))
        # refreshed when the tab is shown, not on the project's layersAdded/Removed signals: a
        # connection outliving this widget (a dock rebuilt without unload) crashed QGIS
        self._refresh_result_layers()

        self.runner = TaskRunner(
            self.progress, self.status, self.cancel_button, [self.compare_button, self.stats_button]
        )
        self.compare_button.clicked.connect(self.compare)
        self.stats_button.clicked.connect(self.compute_statistics)
        self.report_button.clicked.connect(self.open_report)
        self._sync_mode()

    def _sync_mode(self) -> None:
        images = self.mode_images.isChecked()
        for w in (self.before_layer, self.after_layer):
            w.setEnabled(not images)
        for w in (self.before_raster, self.after_raster, self.model_widget, self.vintages_edit):
            w.setEnabled(images)

    def _refresh_result_layers(self, *_args) -> None:
        """Hide every layer that is not a detection or change layer from the result combos; a
        combo left without a choice takes the first (first vintage) or last (others) one offered,
        and the second vintage never stays on the first vintage's layer when another exists."""
        others = [
            lyr
            for lyr in QgsProject.instance().mapLayers().values()
            if not (isinstance(lyr, QgsVectorLayer) and is_result_layer(lyr.fields().names()))
        ]
        for combo in self._result_combos:
            combo.setExceptedLayerList(others)
            if combo.currentLayer() is None and combo.count():
                combo.setCurrentIndex(0 if combo is self.before_layer else combo.count() - 1)
        after = self.after_layer
        if after.currentLayer() is self.before_layer.currentLayer() and after.count() > 1:
            after.setCurrentIndex(after.count() - 1 if after.currentIndex() == 0 else 0)  # two vintages

    def _zones_layer_changed(self, layer) -> None:
        self.name_field.setLayer(layer)
        if layer is not None:
            names = [f.name() for f in layer.fields()]
            self.name_field.setField(next((n for n in ZONE_NAME_FIELDS if n in names), ""))

    # -- change ---------------------------------------------------------------------------
    def _output_path(self, widget: QgsFileWidget, suffixes: tuple[str, ...], what: str) -> str:
        path = widget.filePath().strip()
        if not path:
            raise IdfHrError(tr("Choose where to save the {what}.").format(what=what))
        if Path(path).suffix.lower() not in suffixes:
            path = str(Path(path).with_suffix(suffixes[0]))
        return path

    def compare(self) -> None:
        """Read the inputs on the main thread, run the chain in a task, load the styled result."""
        from ..core.analysis import read_detections, write_change_layer
        from ..core.analysis.workflow import compare_runs, detect_vintages

        try:
            out = self._output_path(self.change_output, (".gpkg",), tr("change layer"))
            check_new_layer(out, "changes")
            exclude = parse_classes(self.exclude_edit.text())
            rasters: list = []
            if self.mode_images.isChecked():
                layers = [self.before_raster.currentLayer(), self.after_raster.currentLayer()]
                model = self.model_widget.filePath().strip()
                vintages = [v.strip() for v in self.vintages_edit.text().split(",")]
                if None in layers or not model:
                    raise IdfHrError(tr("Choose the two imagery layers and the model."))
                if len(vintages) != 2 or vintages[0] == vintages[1]:
                    raise IdfHrError(tr("Name two different vintages, e.g. 2024,2026."))
                rasters = [(lyr.source(), v) for lyr, v in zip(layers, vintages)]
                canvas = self.iface.mapCanvas()
                ext = canvas.extent()
                extent = (ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum())
                extent_crs = canvas.mapSettings().destinationCrs().authid()
                runs = None
            else:
                layers = [self.before_layer.currentLayer(), self.after_layer.currentLayer()]
                if None in layers:
                    raise IdfHrError(tr("Choose the detection layers of the two vintages."))
                runs = [al.gpkg_source(lyr) for lyr in layers]
        except IdfHrError as exc:
            self.status.setText(str(exc))
            return

        def work(progress, is_canceled):
            if runs is not None:
                before, after = (read_detections(p, lyr) for p, lyr in runs)
            else:
                before, after = detect_vintages(
                    model,
                    [r for r, _ in rasters],
                    [v for _, v in rasters],
                    Path(out).with_suffix("").as_posix() + "_runs",
                    extent=extent,
                    extent_crs=extent_crs,
                    cancel=is_canceled,
                    progress=lambda f, _m: progress(0.9 * f),
                )
            result = compare_runs(before, after, exclude=exclude, cancel=is_canceled)
            write_change_layer(result, out, "changes", cancel=is_canceled)
            return result

        def done(result) -> None:
            self.change_layer = al.add_change_group(out, "changes", rasters)
            self._refresh_result_layers()
            counts = {}
            for s in result.columns["change"].tolist():
                counts[s] = counts.get(s, 0) + 1
            text = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "-"
            notes = " ".join(result.metadata.get("notes", []))
            left = tr(" Classes left out: {c}.").format(c=", ".join(sorted(exclude))) if exclude else ""
            self.status.setText(
                tr("{n} objects compared: {detail}.").format(n=len(result), detail=text)
                + left
                + (" " + notes if notes else "")
            )

        self._run(tr("IdF HR change detection"), work, done, tr("Comparing the two vintages…"))

    # -- statistics -----------------------------------------------------------------------
    def compute_statistics(self) -> None:
        """Statistics per zone of the chosen layer; table written, zones layer joined and styled."""

        from ..core.analysis.workflow import (
            boundary_zones,
            layer_statistics,
            write_zones_layer,
        )

        try:
            layer = self.stats_input.currentLayer()
            if layer is None:
                raise IdfHrError(tr("Choose the detection or change layer to count."))
            source = al.gpkg_source(layer)
            table = self._output_path(self.table_output, (".csv", ".xlsx"), tr("statistics table"))
            out = str(Path(table).with_suffix("")) + "_zones.gpkg"
            check_new_layer(out, "zone_statistics")
            kind = self.zones_kind.currentData()
            zones = None
            if kind == "layer":
                zones = al.zones_from_layer(
                    self.zones_layer_combo.currentLayer(), self.name_field.currentField()
                )
        except IdfHrError as exc:
            self.status.setText(str(exc))
            return
        indicator = self.indicator.currentData()

        def work(progress, is_canceled):
            note = ""
            if zones:
                zg, zn, zc = zones
            else:  # the settings' boundaries file or service; offline, the bundled copy (and a note)
                bounds = odl.load_boundaries(cancel=is_canceled)
                note = bounds.note
                zg, zn, zc = boundary_zones(kind, bounds)
            result = layer_statistics(*source, zg, zn, zc, cancel=is_canceled)
            write_zones_layer(result, zg, zc, out, "zone_statistics", cancel=is_canceled)
            # the table last: a cancel while the zones layer is written leaves no table behind
            (result.to_xlsx if table.lower().endswith(".xlsx") else result.to_csv)(table)
            return result, note

        def done(outcome) -> None:
            result, note = outcome
            vl = QgsVectorLayer(f"{out}|layername=zone_statistics", tr("Zone statistics"), "ogr")
            key = indicator if vl.fields().indexOf(indicator) >= 0 else "count"
            al.style_zones_layer(vl, key)
            QgsProject.instance().addMapLayer(vl)
            self.zones_layer = vl
            lines = zone_summary(result, most=5)
            self.status.setText(
                "; ".join(lines)
                + ". "
                + tr("Table: {path}").format(path=table)
                + (" " + note if note else "")
            )

        self._run(tr("IdF HR statistics per zone"), work, done, tr("Counting per zone…"))

    # -- report ---------------------------------------------------------------------------
    def current_result_layer(self):
        """The layer a report is about: the last zone statistics, else the last changes."""
        return self.zones_layer or self.change_layer

    def open_report(self) -> None:
        from .report_dialog import show_report_dialog

        current_layer = self.current_result_layer()
        show_report_dialog(self.iface, self, current_layer)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._refresh_result_layers()
        super().showEvent(event)

    def shutdown(self) -> None:
        self.cancel()
