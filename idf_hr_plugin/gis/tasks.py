"""One QgsTask base for all background work of the plugin.

Worker code receives ``progress(fraction_or_percent)`` and ``is_canceled()`` and never touches
layers, the project or widgets; ``finished()`` runs on the main thread and either hands the result
to ``on_done`` or reports the error (the user-readable message of core errors) in the message bar.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any, Callable

from qgis.core import Qgis, QgsApplication, QgsTask

from ..core.errors import Cancelled, IdfHrError
from .i18n import tr

LOG = logging.getLogger("idf_hr.tasks")

Work = Callable[[Callable[[float], None], Callable[[], bool]], Any]


class IdfHrTask(QgsTask):
    """Run ``work(progress, is_canceled)`` in a worker thread; deliver its result on the main thread."""

    def __init__(
        self,
        description: str,
        work: Work,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        message_bar=None,
        flags=QgsTask.Flag.CanCancel,
    ) -> None:
        super().__init__(description, flags)
        self._work = work
        self._on_done = on_done
        self._on_error = on_error
        self._message_bar = message_bar
        self.result: Any = None
        self.error: str | None = None
        self.cancelled_by_user = False

    def run(self) -> bool:  # worker thread
        try:
            self.result = self._work(self._progress, self.isCanceled)
            return not self.isCanceled()
        except Cancelled as exc:
            self.cancelled_by_user = True
            self.error = str(exc)
        except IdfHrError as exc:
            self.error = str(exc)
        except Exception as exc:  # unexpected: keep the traceback in the log, a sentence for the user
            LOG.error("%s failed:\n%s", self.description(), traceback.format_exc())
            self.error = tr("Unexpected error: {error}. Details are in the IdF HR log panel.").format(
                error=exc
            )
        return False

    def _progress(self, value: float) -> None:
        self.setProgress(value * 100.0 if value <= 1.0 else value)

    def finished(self, ok: bool) -> None:  # main thread
        if ok:
            if self._on_done is not None:
                self._on_done(self.result)
            return
        if self.isCanceled() or self.cancelled_by_user:
            message = self.error or tr("Cancelled; nothing was written.")
            level = Qgis.MessageLevel.Info
        else:
            message = self.error or tr("The task failed.")
            level = Qgis.MessageLevel.Critical
        LOG.warning("%s: %s", self.description(), message)
        if self._on_error is not None:
            self._on_error(message)
        if self._message_bar is not None:
            self._message_bar.pushMessage(self.description(), message, level, 10)


def start(task: IdfHrTask) -> IdfHrTask:
    """Hand the task to QGIS's task manager (keeps a Python reference alive until it ends)."""
    QgsApplication.taskManager().addTask(task)
    return task
