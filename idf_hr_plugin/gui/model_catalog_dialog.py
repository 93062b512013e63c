"""The model manager's shared catalogs: list the models of a STAC MLM catalog, show each card, install one."""

from __future__ import annotations

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
)

from ..gis import tasks
from ..gis.i18n import tr
from .model_card_view import card_html

KINDS = ("stac-static", "stac-api")


class ModelCatalogDialog(QDialog):
    """Models of a shared catalog (static folder/URL or STAC API); nothing is downloaded before Install."""

    def __init__(self, tab, url: str = "", parent=None) -> None:
        super().__init__(parent)
        self.tab = tab
        self.models: list = []
        self.task = None
        self.setWindowTitle(tr("Models from a shared catalog (STAC MLM)"))
        layout = QVBoxLayout(self)
        row = QHBoxLayout()
        self.url_edit = QLineEdit(url)
        self.url_edit.setPlaceholderText(tr("catalog.json URL, catalog folder, or STAC API URL"))
        self.kind_combo = QComboBox()
        self.kind_combo.addItem(tr("Static catalog"), KINDS[0])
        self.kind_combo.addItem(tr("STAC API"), KINDS[1])
        self.list_button = QPushButton(tr("List models"))
        self.list_button.clicked.connect(self.list_models)
        row.addWidget(self.url_edit, 1)
        row.addWidget(self.kind_combo)
        row.addWidget(self.list_button)
        layout.addLayout(row)
        self.model_list = QListWidget()
        self.model_list.currentRowChanged.connect(self._selected)
        layout.addWidget(self.model_list)
        self.card_label = QLabel()
        self.card_label.setWordWrap(True)
        self.card_label.setTextFormat(Qt.TextFormat.RichText)
        self.card_label.setFrameShape(QLabel.Shape.StyledPanel)
        layout.addWidget(self.card_label)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.install_button = buttons.addButton(tr("Install"), QDialogButtonBox.ButtonRole.ActionRole)
        self.install_button.setEnabled(False)
        self.install_button.clicked.connect(self.install_selected)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def current(self):
        row = self.model_list.currentRow()
        return self.models[row] if 0 <= row < len(self.models) else None

    def list_models(self):
        """List the catalog's models in the background (only JSON documents are fetched)."""
        from ..core.inference.models_registry import MlmCatalog

        url = self.url_edit.text().strip()
        if not url:
            self.status_label.setText(tr("Give the address of a model catalog first."))
            return None
        catalog = MlmCatalog(url, kind=self.kind_combo.currentData())
        self.status_label.setText(tr("Reading {url}…").format(url=url))
        return self._start(
            tr("IdF HR: reading a model catalog"),
            lambda progress, is_canceled: catalog.models(cancel=is_canceled),
            self.set_models,
        )

    def set_models(self, models: list) -> None:
        self.models = list(models)
        self.model_list.clear()
        for m in self.models:
            self.model_list.addItem(m.display_name())
        self.status_label.setText(
            tr("{n} model(s) in this catalog.").format(n=len(self.models))
            if self.models
            else tr("This catalog lists no STAC item with the MLM extension.")
        )
        if self.models:
            self.model_list.setCurrentRow(0)

    def _selected(self, _row: int) -> None:
        m = self.current()
        self.card_label.setText(card_html(m.model_card()) if m is not None else "")
        self.install_button.setEnabled(m is not None and m.usable and self.task is None)

    def install_selected(self):
        """Download (or copy) the selected model, its checksum verified; select it in the tab when done."""
        m = self.current()
        if m is None or not m.usable:
            return None
        registry = self.tab.registry()

        def work(progress, is_canceled):
            def prog(have, total):
                if total:
                    progress(have / total)

            return registry.install_from_catalog(m, progress=prog, cancel=is_canceled)

        def done(entry) -> None:
            self.status_label.setText(
                tr("Model “{name}” installed, its checksum verified.").format(name=entry.name)
            )
            self.tab.reload_models(select=entry.id)

        return self._start(tr("IdF HR: installing a shared model"), work, done)

    def _start(self, title: str, work, on_done):
        def finished(result) -> None:
            self.task = None
            self._busy(False)
            on_done(result)

        def failed(message: str) -> None:
            self.task = None
            self._busy(False)
            self.status_label.setText(message)

        self._busy(True)
        self.task = tasks.start(tasks.IdfHrTask(title, work, on_done=finished, on_error=failed))
        return self.task

    def _busy(self, busy: bool) -> None:
        self.list_button.setEnabled(not busy)
        m = self.current()
        self.install_button.setEnabled(not busy and m is not None and m.usable)
