"""Loading the plugin adds a menu, a toolbar button, a dock, an options page and the Processing
provider; unloading removes every trace; loading again works."""

from __future__ import annotations

import logging

from qgis.core import QgsApplication
from qgis.PyQt.QtWidgets import QToolBar

import idf_hr_plugin
from idf_hr_plugin.core import http as core_http
from idf_hr_plugin.gis.network import QgisTransport


def _toolbars(iface):
    return [t for t in iface.window.findChildren(QToolBar) if t.objectName() == "IdfHrToolbar"]


def _our_log_handlers():
    return [h for h in logging.getLogger("idf_hr").handlers if type(h).__name__ == "QgsLogHandler"]


def test_load_unload_load_leaves_no_trace(plugin_iface):
    registry = QgsApplication.processingRegistry()
    for round_ in range(2):
        plugin = idf_hr_plugin.classFactory(plugin_iface)
        plugin.initGui()

        assert "&IdF HR" in plugin_iface.raster_menus
        menu_texts = [a.text() for a in plugin_iface.raster_menus["&IdF HR"].actions()]
        assert len(menu_texts) == 4, menu_texts
        assert {"Prepare an offline kit…", "Guided session (training)"} <= set(menu_texts), menu_texts
        assert len(_toolbars(plugin_iface)) == 1
        assert plugin_iface.docks == [plugin.dock]
        assert len(plugin_iface.options_factories) == 1
        provider = registry.providerById("idfhr")
        assert provider is not None
        algs = {a.id() for a in provider.algorithms()}
        assert {"idfhr:catalogsearch", "idfhr:downloadimagery", "idfhr:offlinekit"} <= algs
        assert len(_our_log_handlers()) == 1
        assert isinstance(core_http.default_client().transport, QgisTransport)

        # the toolbar button shows the dock
        plugin.actions[0].trigger()
        assert plugin.dock.isVisible() or plugin.dock.isHidden() is False

        plugin.unload()
        assert plugin_iface.raster_menus == {}
        assert plugin_iface.docks == []
        assert plugin_iface.options_factories == []
        assert registry.providerById("idfhr") is None, (
            f"provider still registered after unload (round {round_})"
        )
        assert _our_log_handlers() == []
        assert not isinstance(core_http.default_client().transport, QgisTransport)
        from qgis.PyQt.QtCore import QCoreApplication, QEvent

        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # run deleteLater()
        assert _toolbars(plugin_iface) == []


def test_log_messages_reach_qgis_message_log(plugin_iface):
    received = []

    def on_message(message, tag, level):
        received.append((tag, message))

    QgsApplication.messageLog().messageReceived.connect(on_message)
    plugin = idf_hr_plugin.classFactory(plugin_iface)
    plugin.initGui()
    try:
        logging.getLogger("idf_hr.test").warning("cache folder missing")
    finally:
        plugin.unload()
        QgsApplication.messageLog().messageReceived.disconnect(on_message)
    assert ("IdF HR", "idf_hr.test: cache folder missing") in received
