"""Small widgets of the open-data tab: the "Add portal…" dialog and the commune/EPT zoom bar."""

from __future__ import annotations

from qgis.PyQt.QtCore import QStringListModel, Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QCompleter,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ..core.errors import UserInputError
from ..gis import opendata_layers
from ..gis.i18n import tr


class AddPortalDialog(QDialog):
    """Ask for the name and address of an Opendatasoft portal; stores it in the settings on OK."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Add an Opendatasoft portal"))
        form = QFormLayout(self)
        self.name_edit = QLineEdit()
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("https://data.example.fr")
        self.error = QLabel()
        self.error.setWordWrap(True)
        form.addRow(tr("Name"), self.name_edit)
        form.addRow(tr("Address"), self.url_edit)
        form.addRow(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.choice = None

    def accept(self) -> None:
        try:
            self.choice = opendata_layers.add_user_portal(self.name_edit.text(), self.url_edit.text())
        except UserInputError as exc:
            self.error.setText(str(exc))
            return
        super().accept()


class PlaceZoomBar(QWidget):
    """Line edit with a completer over the MGP communes and EPT, a Zoom button and an "outline" option."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(tr("Commune or EPT (e.g. Saint-Denis, Plaine Commune)"))
        self.names_model = QStringListModel([])
        self.completer = QCompleter(self.names_model, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.edit.setCompleter(self.completer)
        self.zoom_button = QPushButton(tr("Zoom"))
        self.outline_check = QCheckBox(tr("Add outline"))
        row.addWidget(self.edit, 1)
        row.addWidget(self.zoom_button)
        row.addWidget(self.outline_check)

    def set_names(self, names: list[str]) -> None:
        self.names_model.setStringList(names)
