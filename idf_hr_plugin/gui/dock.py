"""The IdF HR dock: one tab per capability (catalog first; detection and open data add theirs)."""

from __future__ import annotations

from qgis.gui import QgsDockWidget
from qgis.PyQt.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ..gis.i18n import tr


class IdfHrDock(QgsDockWidget):
    """Dock widget holding the tabs; ``shutdown()`` cancels work and removes map tools on unload."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(tr("IdF HR — Île-de-France imagery"), parent)
        self.iface = iface
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tabs = QTabWidget(body)
        layout.addWidget(self.tabs)
        self.setWidget(body)

        from .catalog_tab import CatalogTab

        self.catalog_tab = CatalogTab(iface, self)
        self.add_tab(self.catalog_tab, tr("Catalog"))

    def add_tab(self, widget: QWidget, title: str) -> None:
        self.tabs.addTab(widget, title)

    def shutdown(self) -> None:
        for i in range(self.tabs.count()):
            widget = self.tabs.widget(i)
            if hasattr(widget, "shutdown"):
                widget.shutdown()
