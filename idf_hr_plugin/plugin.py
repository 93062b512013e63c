"""Wires IdF HR into QGIS: menu, toolbar, dock, options page, Processing provider, logging.

``unload()`` undoes every one of them (tested by load → unload → load).
"""

from __future__ import annotations

import logging
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsProject
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction, QPushButton

from .core import http as core_http
from .gis import logging_bridge
from .gis.i18n import install_translator, remove_translator, tr

LOG = logging.getLogger("idf_hr.plugin")
ICON = Path(__file__).resolve().parent / "resources" / "icons" / "idf_hr.svg"
MENU = "&IdF HR"


class IdfHrPlugin:
    """The object QGIS holds for the plugin (``classFactory`` returns it)."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider = None
        self.dock = None
        self.toolbar = None
        self.actions: list[QAction] = []
        self.options_factory = None
        self.log_handler = None
        self.translator = None
        self._cache_service = None
        self.guided = None

    # -- Processing (also called alone by qgis_process) ---------------------------
    def initProcessing(self) -> None:  # noqa: N802 (QGIS API name)
        from .gis.onnx_runtime_install import add_deps_to_sys_path

        add_deps_to_sys_path()  # onnxruntime installed by the plugin into its own folder, if any
        if self.translator is None:
            self.translator = install_translator()
        if self.log_handler is None:
            self.log_handler = logging_bridge.install()
        self._install_network()
        if self.provider is None:
            from .processing.provider import IdfHrProvider

            self.provider = IdfHrProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def _install_network(self) -> None:
        from .gis.network import qgis_client
        from .gis.settings import Settings

        core_http.set_default_client(qgis_client(timeout=float(Settings.HTTP_TIMEOUT_S.value())))

    # -- GUI --------------------------------------------------------------------
    def initGui(self) -> None:  # noqa: N802 (QGIS API name)
        self.initProcessing()
        from .gis import cache_service
        from .gui.dock import IdfHrDock
        from .gui.options import IdfHrOptionsFactory

        self._cache_service = cache_service.start()
        icon = QIcon(str(ICON))
        self.toolbar = self.iface.addToolBar(tr("IdF HR"))
        self.toolbar.setObjectName("IdfHrToolbar")

        self.dock = IdfHrDock(self.iface)
        self.dock.setObjectName("IdfHrDock")
        self.iface.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)
        self.dock.hide()

        toggle = QAction(icon, tr("IdF HR imagery panel"), self.iface.mainWindow())
        toggle.setCheckable(True)
        toggle.setToolTip(tr("Show or hide the IdF HR panel: catalog, imagery, offline packs"))
        toggle.toggled.connect(self.dock.setVisible)
        self.dock.visibilityChanged.connect(toggle.setChecked)
        self.actions.append(toggle)

        options = QAction(
            QgsApplication.getThemeIcon("/mActionOptions.svg"), tr("Settings…"), self.iface.mainWindow()
        )
        options.triggered.connect(lambda: self.iface.showOptionsDialog(self.iface.mainWindow(), "IdF HR"))
        self.actions.append(options)

        kit = QAction(icon, tr("Prepare an offline kit…"), self.iface.mainWindow())
        kit.setToolTip(
            tr("One folder with a project, imagery, boundaries, fibre and models, to work offline")
        )
        kit.triggered.connect(self.open_offline_kit_dialog)
        self.actions.append(kit)

        guided = QAction(icon, tr("Guided session (training)"), self.iface.mainWindow())
        guided.setObjectName("IdfHrGuidedSessionAction")
        guided.setToolTip(
            tr("A step-by-step tour of the demo region for AI awareness sessions: works offline")
        )
        guided.triggered.connect(self.open_guided_session)
        self.actions.append(guided)

        for action in self.actions:
            self.iface.addPluginToRasterMenu(MENU, action)
        self.toolbar.addAction(toggle)

        self.options_factory = IdfHrOptionsFactory()
        self.iface.registerOptionsWidgetFactory(self.options_factory)
        QgsProject.instance().readProject.connect(self._project_read)

    def open_guided_session(self):
        """Show the trainer's guided session at the top of the dock (created on first use)."""
        from .gui.guided_session import GuidedSession

        if self.guided is None:
            self.guided = GuidedSession(self.dock, self.iface)
        self.guided.start()
        return self.guided

    def _project_read(self, *_args) -> None:
        """Opening the demo project offers the guided session in the message bar."""
        from .gui.guided_session import is_demo_project

        if self.guided is not None:  # another project: the session's baseline is stale
            self.guided.shutdown()
            self.guided.deleteLater()
            self.guided = None
        if not is_demo_project():
            return
        bar = self.iface.messageBar()
        item = bar.createMessage(
            tr("IdF HR"), tr("This is the demo project: a guided session walks through it step by step.")
        )
        button = QPushButton(tr("Start the guided session"))
        button.setObjectName("IdfHrStartGuidedSession")
        button.clicked.connect(self.open_guided_session)
        button.clicked.connect(lambda: bar.popWidget(item) and None)
        item.layout().addWidget(button)
        bar.pushWidget(item, Qgis.MessageLevel.Info, 0)

    def open_offline_kit_dialog(self) -> None:
        """The ``idfhr:offlinekit`` dialog: zone, vintages, layers, models; progress and cancel."""
        import processing

        processing.execAlgorithmDialog("idfhr:offlinekit", {})

    def unload(self) -> None:
        try:
            QgsProject.instance().readProject.disconnect(self._project_read)
        except (TypeError, RuntimeError):
            pass
        if self.guided is not None:
            self.guided.shutdown()
            self.guided = None  # a child of the dock: deleted with it
        for action in self.actions:
            self.iface.removePluginRasterMenu(MENU, action)
            action.deleteLater()
        self.actions = []
        if self.toolbar is not None:
            self.toolbar.deleteLater()
            self.iface.mainWindow().removeToolBar(self.toolbar)
            self.toolbar = None
        if self.dock is not None:
            self.dock.shutdown()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        if self.options_factory is not None:
            self.iface.unregisterOptionsWidgetFactory(self.options_factory)
            self.options_factory = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self._cache_service is not None:
            from .gis import cache_service

            cache_service.stop()
            self._cache_service = None
        core_http.set_default_client(None)
        logging_bridge.remove(self.log_handler)
        self.log_handler = None
        remove_translator(self.translator)
        self.translator = None
