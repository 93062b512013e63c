"""QGIS adapters around the Qt-free core: settings, logging, network, tasks, layers."""
