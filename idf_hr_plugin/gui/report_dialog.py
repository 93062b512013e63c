"""The Report… dialog: pick a detection, change or zone-statistics layer, a language, optional zones,
and write the PDF (+ HTML) report; the layout joins the project's layout manager for editing."""

from __future__ import annotations

from pathlib import Path

from qgis.core import Qgis, QgsFieldProxyModel, QgsMapLayerProxyModel, QgsProject
from qgis.gui import QgsFieldComboBox, QgsFileWidget, QgsMapLayerComboBox
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QVBoxLayout,
)

from ..core.errors import IdfHrError
from ..gis.i18n import tr


class ReportDialog(QDialog):
    """Options of one report; ``accept()`` writes it and reports where it is."""

    def __init__(self, iface, parent=None, layer=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.result_paths: dict = {}
        self.setWindowTitle(tr("Report (PDF print layout)"))
        root = QVBoxLayout(self)
        form = QFormLayout()
        self.layer_combo = QgsMapLayerComboBox()
        self.layer_combo.setFilters(
            QgsMapLayerProxyModel.Filter.VectorLayer
        )  # statistics may be a plain table
        if layer is not None:
            self.layer_combo.setLayer(layer)
        form.addRow(tr("Detection, change or statistics layer"), self.layer_combo)
        self.lang_combo = QComboBox()
        self.lang_combo.addItem(tr("French"), "fr")
        self.lang_combo.addItem(tr("English"), "en")
        form.addRow(tr("Report language"), self.lang_combo)
        self.zones_combo = QgsMapLayerComboBox()
        self.zones_combo.setFilters(QgsMapLayerProxyModel.Filter.PolygonLayer)
        self.zones_combo.setAllowEmptyLayer(True)
        self.zones_combo.setLayer(None)
        form.addRow(tr("Zones (optional, e.g. communes)"), self.zones_combo)
        self.zone_field = QgsFieldComboBox()
        self.zone_field.setFilters(QgsFieldProxyModel.Filter.String)
        self.zones_combo.layerChanged.connect(self.zone_field.setLayer)
        form.addRow(tr("Field naming the zones"), self.zone_field)
        self.pdf_widget = QgsFileWidget()
        self.pdf_widget.setStorageMode(QgsFileWidget.StorageMode.SaveFile)
        self.pdf_widget.setFilter(tr("PDF files (*.pdf)"))
        form.addRow(tr("PDF file"), self.pdf_widget)
        self.html_check = QCheckBox(tr("Also write an HTML version next to the PDF"))
        self.html_check.setChecked(True)
        form.addRow("", self.html_check)
        root.addLayout(form)
        self.status = QLabel()
        self.status.setWordWrap(True)
        root.addWidget(self.status)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        root.addWidget(buttons)
        self._suggest_pdf()
        # a bound method, not a lambda: PyQt drops the connection when this dialog is deleted
        self.layer_combo.layerChanged.connect(self._layer_changed)

    def _layer_changed(self, _layer) -> None:
        self._suggest_pdf()

    def _suggest_pdf(self) -> None:
        layer = self.layer_combo.currentLayer()
        if layer is None:
            return
        src = layer.source().split("|")[0]
        if Path(src).is_file():
            self.pdf_widget.setFilePath(str(Path(src).with_name(f"rapport_{layer.name()}.pdf")))

    def write_report(self) -> dict:
        """Write the report with the dialog's choices; raises :class:`IdfHrError` with a clear message."""
        from ..gis.analysis_layers import gpkg_source, zones_from_layer
        from ..gis.report_layout import report_from_file

        layer = self.layer_combo.currentLayer()
        if layer is None:
            raise IdfHrError(tr("Choose the layer to report on (detections, changes or statistics)."))
        pdf = self.pdf_widget.filePath().strip()
        if not pdf:
            raise IdfHrError(tr("Choose the PDF file to write."))
        if not pdf.lower().endswith(".pdf"):
            pdf += ".pdf"
        path, name = gpkg_source(layer)
        zones = None
        zl = self.zones_combo.currentLayer()
        if zl is not None:
            field = self.zone_field.currentField()
            if not field:
                raise IdfHrError(tr("Choose the field that names the zones, or no zone layer."))
            zones = zones_from_layer(zl, field)
        html = str(Path(pdf).with_suffix(".html")) if self.html_check.isChecked() else None
        return report_from_file(
            path,
            name,
            pdf,
            lang=self.lang_combo.currentData(),
            zones=zones,
            html_path=html,
            project=QgsProject.instance(),
            add_to_project=True,
        )

    def accept(self) -> None:  # noqa: D102
        try:
            self.result_paths = self.write_report()
        except IdfHrError as exc:
            self.status.setText(str(exc))  # the dialog stays open so the user can fix the choice
            return
        msg = tr("Report written: {pdf}. Its layout '{layout}' is in the project's layout manager.").format(
            pdf=self.result_paths["pdf"], layout=self.result_paths["layout"].name()
        )
        if self.iface is not None and hasattr(self.iface, "messageBar"):
            self.iface.messageBar().pushMessage(tr("IdF HR"), msg, Qgis.MessageLevel.Success, 8)
        super().accept()


def show_report_dialog(iface, parent=None, layer=None) -> ReportDialog:
    """Open the report dialog on ``layer`` (a detection, change or zone-statistics layer, or None)."""
    dialog = ReportDialog(iface, parent, layer)
    dialog.open()
    return dialog
