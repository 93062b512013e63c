"""Settings › IdF HR: catalog sources (add / edit / remove, authcfg), cache, network."""

from __future__ import annotations

import re
from pathlib import Path

from qgis.gui import QgsAuthConfigSelect, QgsFileWidget, QgsOptionsPageWidget, QgsOptionsWidgetFactory
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..core.catalog.model import SOURCE_KINDS, SourceConfig
from ..gis.i18n import tr
from ..gis.settings import Settings

ICON = Path(__file__).resolve().parent.parent / "resources" / "icons" / "idf_hr.svg"


def kind_label(kind: str) -> str:
    return {
        "stac-api": tr("STAC API"),
        "stac-static": tr("Static STAC catalog"),
        "wmts": tr("OGC WMTS service"),
        "demo": tr("Demo region (synthetic)"),
    }.get(kind, kind)


class SourceDialog(QDialog):
    """Add or edit one catalog source."""

    def __init__(self, source: SourceConfig | None = None, taken_ids=(), parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Catalog source"))
        self.taken_ids = set(taken_ids)
        self.original_id = source.id if source else None
        form = QFormLayout(self)
        self.name = QLineEdit(source.name if source else "")
        self.kind = QComboBox()
        for kind in SOURCE_KINDS:
            self.kind.addItem(kind_label(kind), kind)
        if source:
            self.kind.setCurrentIndex(SOURCE_KINDS.index(source.kind))
        self.url = QLineEdit(source.url if source else "")
        self.url.setPlaceholderText("https://…")
        self.auth = QgsAuthConfigSelect(self)
        if source and source.authcfg:
            self.auth.setConfigId(source.authcfg)
        self.enabled = QCheckBox(tr("Enabled"))
        self.enabled.setChecked(source.enabled if source else True)
        form.addRow(tr("Name"), self.name)
        form.addRow(tr("Kind"), self.kind)
        form.addRow(tr("URL"), self.url)
        form.addRow(tr("Authentication"), self.auth)
        form.addRow("", self.enabled)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _accept(self) -> None:
        if not self.name.text().strip():
            QMessageBox.warning(self, tr("Catalog source"), tr("Give the source a name."))
            return
        kind = self.kind.currentData()
        url = self.url.text().strip()
        if kind != "demo" and not url:
            QMessageBox.warning(self, tr("Catalog source"), tr("Give the address (URL) of the source."))
            return
        self.accept()

    def source(self) -> SourceConfig:
        name = self.name.text().strip()
        sid = self.original_id or re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "source"
        base, n = sid, 2
        while sid in self.taken_ids and sid != self.original_id:
            sid = f"{base}-{n}"
            n += 1
        return SourceConfig(
            id=sid,
            name=name,
            kind=self.kind.currentData(),
            url=self.url.text().strip(),
            authcfg=self.auth.configId() or "",
            enabled=self.enabled.isChecked(),
        )


class IdfHrOptionsPage(QgsOptionsPageWidget):
    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.sources = Settings.sources()
        layout = QVBoxLayout(self)

        box = QGroupBox(tr("Catalog sources"))
        box_l = QVBoxLayout(box)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels([tr("Name"), tr("Kind"), tr("URL"), tr("Enabled")])
        header = self.table.horizontalHeader()
        # Name, Kind and Enabled fit their text; the URL takes the rest (was: Name/Kind cut, issue 9)
        for column in (0, 1, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        box_l.addWidget(self.table)
        row = QHBoxLayout()
        self.add_button = QPushButton(tr("Add…"))
        self.edit_button = QPushButton(tr("Edit…"))
        self.remove_button = QPushButton(tr("Remove"))
        self.reset_button = QPushButton(tr("Restore defaults"))
        for b in (self.add_button, self.edit_button, self.remove_button, self.reset_button):
            row.addWidget(b)
        box_l.addLayout(row)
        layout.addWidget(box)

        other = QGroupBox(tr("Cache and network"))
        form = QFormLayout(other)
        self.cache_mb = QSpinBox()
        self.cache_mb.setRange(50, 500000)
        self.cache_mb.setSuffix(" " + tr("MB"))
        self.cache_mb.setValue(int(Settings.CACHE_MAX_MB.value()))
        self.timeout = QSpinBox()
        self.timeout.setRange(1, 600)
        self.timeout.setSuffix(" s")
        self.timeout.setValue(int(Settings.HTTP_TIMEOUT_S.value()))
        self.offline = QCheckBox(tr("Work offline (use the cache and offline packs only)"))
        self.offline.setChecked(bool(Settings.OFFLINE.value()))
        self.limit = QSpinBox()
        self.limit.setRange(1, 100000)
        self.limit.setValue(int(Settings.SEARCH_LIMIT.value()))
        form.addRow(tr("Imagery cache size"), self.cache_mb)
        form.addRow(tr("Network timeout"), self.timeout)
        form.addRow(tr("Maximum search results"), self.limit)
        form.addRow("", self.offline)
        layout.addWidget(other)

        services = QGroupBox(tr("Detection and open data"))
        sform = QFormLayout(services)
        self.models_dir = QgsFileWidget()
        self.models_dir.setStorageMode(QgsFileWidget.StorageMode.GetDirectory)
        self.models_dir.setFilePath(Settings.DETECTION_MODELS_DIR.value())
        self.models_dir.setToolTip(tr("Folder of your own ONNX models (empty: the IdF HR cache folder)."))
        self.mgp_url = QLineEdit(Settings.OPENDATA_MGP_URL.value())
        self.mgp_url.setToolTip(tr("Address of the Métropole du Grand Paris Opendatasoft portal."))
        self.paris_url = QLineEdit(Settings.OPENDATA_PARIS_URL.value())
        self.boundaries_url = QLineEdit(Settings.BOUNDARIES_API_URL.value())
        self.boundaries_url.setToolTip(
            tr("Service giving the communes and their contours (geo.api.gouv.fr layout).")
        )
        sform.addRow(tr("Models folder"), self.models_dir)
        sform.addRow(tr("MGP open-data portal"), self.mgp_url)
        sform.addRow(tr("Paris open-data portal"), self.paris_url)
        sform.addRow(tr("Communes service"), self.boundaries_url)
        layout.addWidget(services)
        layout.addStretch(1)

        self.add_button.clicked.connect(self.add_source)
        self.edit_button.clicked.connect(self.edit_source)
        self.remove_button.clicked.connect(self.remove_source)
        self.reset_button.clicked.connect(self.restore_defaults)
        self.table.doubleClicked.connect(lambda _idx: self.edit_source())
        self.refresh()

    def refresh(self) -> None:
        self.table.setRowCount(len(self.sources))
        for r, src in enumerate(self.sources):
            for c, text in enumerate(
                [src.name, kind_label(src.kind), src.url, tr("yes") if src.enabled else tr("no")]
            ):
                self.table.setItem(r, c, QTableWidgetItem(text))

    def _current_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else -1

    def add_source(self) -> None:
        dialog = SourceDialog(None, [s.id for s in self.sources], self)
        if dialog.exec():
            self.sources.append(dialog.source())
            self.refresh()

    def edit_source(self) -> None:
        r = self._current_row()
        if r < 0:
            return
        dialog = SourceDialog(self.sources[r], [s.id for s in self.sources], self)
        if dialog.exec():
            self.sources[r] = dialog.source()
            self.refresh()

    def remove_source(self) -> None:
        r = self._current_row()
        if r >= 0:
            del self.sources[r]
            self.refresh()

    def restore_defaults(self) -> None:
        from ..core.catalog.sources import default_sources

        self.sources = default_sources()
        self.refresh()

    def apply(self) -> None:
        Settings.set_sources(self.sources)
        Settings.CACHE_MAX_MB.set(self.cache_mb.value())
        Settings.HTTP_TIMEOUT_S.set(self.timeout.value())
        Settings.OFFLINE.set(self.offline.isChecked())
        Settings.SEARCH_LIMIT.set(self.limit.value())
        Settings.DETECTION_MODELS_DIR.set(self.models_dir.filePath().strip())
        Settings.OPENDATA_MGP_URL.set(self.mgp_url.text().strip())
        Settings.OPENDATA_PARIS_URL.set(self.paris_url.text().strip())
        Settings.BOUNDARIES_API_URL.set(self.boundaries_url.text().strip())


class IdfHrOptionsFactory(QgsOptionsWidgetFactory):
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("IdF HR")

    def icon(self) -> QIcon:
        return QIcon(str(ICON))

    def createWidget(self, parent):  # noqa: N802
        return IdfHrOptionsPage(parent)
