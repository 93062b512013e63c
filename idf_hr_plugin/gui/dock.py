"""The IdF HR dock: one tab per capability (catalog first; detection and open data add theirs)."""

from __future__ import annotations

import importlib

from qgis.gui import QgsDockWidget
from qgis.PyQt.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from ..gis.i18n import tr

# (attribute, module, class) of the tabs after the catalog; each class takes (iface, parent),
# has tab_title() -> translated title, and may define shutdown().
EXTRA_TABS: tuple = (
    ("detection_tab", "detection_tab", "DetectionTab"),
    ("opendata_tab", "opendata_tab", "OpenDataTab"),
    ("fibre_tab", "fibre_tab", "FibreTab"),
    ("analysis_tab", "analysis_tab", "AnalysisTab"),
)


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
        for attr, module, cls in EXTRA_TABS:
            widget = getattr(importlib.import_module(f"{__package__}.{module}"), cls)(iface, self)
            setattr(self, attr, widget)
            self.add_tab(widget, widget.tab_title())

    def add_tab(self, widget: QWidget, title: str) -> None:
        self.tabs.addTab(widget, title)

    def shutdown(self) -> None:
        for i in range(self.tabs.count()):
            widget = self.tabs.widget(i)
            if hasattr(widget, "shutdown"):
                widget.shutdown()
