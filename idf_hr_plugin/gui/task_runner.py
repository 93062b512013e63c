"""One background task at a time for a dock tab: buttons, progress bar, cancel, status line."""

from __future__ import annotations

from typing import Callable, Sequence

from ..core.errors import IdfHrError
from ..gis import tasks
from ..gis.i18n import tr


def task_controls(run_label: str):
    """A run button (default), a disabled Cancel button in a row, and a thin progress bar.

    Returns ``(row_layout, run_button, cancel_button, progress)``.
    """
    from qgis.PyQt.QtWidgets import QHBoxLayout, QProgressBar, QPushButton

    row = QHBoxLayout()
    run_button = QPushButton(run_label)
    run_button.setDefault(True)
    cancel_button = QPushButton(tr("Cancel"))
    cancel_button.setEnabled(False)
    row.addWidget(run_button)
    row.addWidget(cancel_button)
    progress = QProgressBar()
    progress.setRange(0, 100)
    progress.setValue(0)
    progress.setTextVisible(False)
    progress.setMaximumHeight(8)
    return row, run_button, cancel_button, progress


def scrolled_with_footer(tab):
    """Lay ``tab`` out as a scrolling body above a fixed footer; returns ``(body, footer)`` layouts.

    In a small dock (420 × 600 on a 1366 × 768 screen) the form scrolls while what the footer
    holds (run/cancel buttons, progress, status) stays in view.
    """
    from qgis.PyQt.QtCore import Qt
    from qgis.PyQt.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

    outer = QVBoxLayout(tab)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = QScrollArea(tab)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    body = QWidget()
    scroll.setWidget(body)
    outer.addWidget(scroll, 1)
    footer = QVBoxLayout()
    footer.setContentsMargins(6, 0, 6, 6)
    outer.addLayout(footer)
    tab.scroll_area = scroll
    return QVBoxLayout(body), footer


def no_widening(*combos) -> None:
    """Long items (sources, extents, column names) must not widen the dock: a fixed minimum width."""
    for combo in combos:
        combo.setSizeAdjustPolicy(combo.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(10)


def wrapping_check(check):
    """``check`` with its text moved to a word-wrapped label beside it (a long French label is not cut).

    Clicking the label toggles the box, as clicking a checkbox's own text does.
    """
    from qgis.PyQt.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QWidget

    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(check.text())
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    label.mousePressEvent = lambda _event: check.isEnabled() and check.toggle()
    check.setText("")
    check.setAccessibleName(label.text())
    layout.addWidget(check)
    layout.addWidget(label, 1)
    return row


class TaskRunner:
    """Runs ``work`` as an :class:`IdfHrTask` while the tab shows it is busy.

    While running: ``buttons`` are disabled, ``cancel_button`` enabled, ``progress`` pulses until
    the task reports a percentage, ``status`` shows ``busy_text``. At the end everything returns
    to idle and ``on_done(result)`` runs on the main thread; a failure's message goes to ``status``
    (and to ``on_failed`` when given).
    """

    def __init__(
        self,
        progress,
        status,
        cancel_button,
        buttons: Sequence,
        on_failed: Callable[[str], None] | None = None,
    ):
        self.progress = progress
        self.status = status
        self.cancel_button = cancel_button
        self.buttons = list(buttons)
        self.on_failed = on_failed
        self.task: tasks.IdfHrTask | None = None
        cancel_button.clicked.connect(self.cancel)

    def run(self, description: str, work, on_done: Callable, busy_text: str) -> tasks.IdfHrTask | None:
        if self.task is not None:
            self.status.setText(tr("Wait for the current task to finish, or cancel it."))
            return None

        def failed(message: str) -> None:
            self._idle()
            self.status.setText(message)
            if self.on_failed is not None:
                self.on_failed(message)

        def done(result) -> None:
            self._idle()
            try:
                on_done(result)
            except IdfHrError as exc:
                self.status.setText(str(exc))

        for button in self.buttons:
            button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.status.setText(busy_text)
        self.task = tasks.IdfHrTask(description, work, on_done=done, on_error=failed)
        self.task.progressChanged.connect(
            lambda v: self.progress.setRange(0, 100) or self.progress.setValue(int(v))
        )
        return tasks.start(self.task)

    def _idle(self) -> None:
        self.task = None
        for button in self.buttons:
            button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 100)
        self.progress.setValue(0)

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()


class RunsTasks:
    """Mixin for tabs that hold a :class:`TaskRunner` in ``self.runner``."""

    runner: TaskRunner

    @property
    def task(self):
        """The running task, if any."""
        return self.runner.task

    def cancel(self) -> None:
        self.runner.cancel()

    def _run(self, description: str, work, on_done, busy_text: str) -> None:
        self.runner.run(description, work, on_done, busy_text)
