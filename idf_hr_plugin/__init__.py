"""IdF HR QGIS plugin: only the QGIS entry point lives here (the package imports without QGIS)."""


def classFactory(iface):  # noqa: N802 (QGIS API name)
    """Entry point QGIS calls when it loads the plugin."""
    from .plugin import IdfHrPlugin

    return IdfHrPlugin(iface)
