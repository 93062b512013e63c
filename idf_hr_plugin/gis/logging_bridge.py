"""Forward the stdlib ``idf_hr`` logger to the QGIS message log (tab "IdF HR")."""

from __future__ import annotations

import logging

from qgis.core import Qgis, QgsMessageLog

TAG = "IdF HR"
LOGGER_NAME = "idf_hr"


class QgsLogHandler(logging.Handler):
    """A logging handler writing to ``QgsMessageLog`` (thread-safe on the QGIS side)."""

    LEVELS = {
        logging.DEBUG: Qgis.MessageLevel.Info,
        logging.INFO: Qgis.MessageLevel.Info,
        logging.WARNING: Qgis.MessageLevel.Warning,
        logging.ERROR: Qgis.MessageLevel.Critical,
        logging.CRITICAL: Qgis.MessageLevel.Critical,
    }

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = self.LEVELS.get(record.levelno, Qgis.MessageLevel.Info)
            QgsMessageLog.logMessage(self.format(record), TAG, level, notifyUser=False)
        except Exception:  # logging must never raise into the caller
            self.handleError(record)


def install() -> QgsLogHandler:
    """Attach one handler to the ``idf_hr`` logger and return it (remove it on unload)."""
    handler = QgsLogHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler


def remove(handler: logging.Handler | None) -> None:
    if handler is not None:
        logging.getLogger(LOGGER_NAME).removeHandler(handler)
