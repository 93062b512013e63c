"""The trainer's guided session: a compact panel at the top of the IdF HR dock.

Six steps on the demo region (search → stream → detect → explain → change → fibre, listed in
``core.guided_session``). At each step the panel shows the right tab, prepares its inputs (demo
catalog, bundled model, bundled ARCEP figures, outputs in a folder of the session), outlines the
widget to click and ticks the step once its check passes. "Reset for the next participant"
removes what the participant added and brings the demo view back.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path

from qgis.core import QgsProject, QgsRasterLayer, QgsRectangle, QgsVectorLayer
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.analysis.io import is_result_layer
from ..core.guided_session import (
    CHECK_NAMES,
    DEMO_MODEL_FILE,
    DEMO_PROJECT_ENTRY,
    DEMO_PROJECT_FILE,
    GuidedStep,
    step_label,
    steps,
)
from ..core.paths import cache_dir
from ..gis.i18n import tr

LOG = logging.getLogger("idf_hr.gui.guided")
HIGHLIGHT = "border: 3px solid #e6007e; border-radius: 4px; padding: 3px;"
POLL_MS = 500
# class of the window the "why" button's map tool opens on a clicked detection (gui/explain_tool.py)
EXPLANATION_WINDOW = "ExplainPanel"


def is_demo_project(project: QgsProject | None = None) -> bool:
    """Whether the open project is the demo project (marked by ``make demo``, or by its file name)."""
    project = project or QgsProject.instance()
    marked = project.readEntry(*DEMO_PROJECT_ENTRY, "")[0] == "1"
    return marked or Path(project.fileName()).name == DEMO_PROJECT_FILE


def _year(name: str) -> int:
    found = re.findall(r"(?<!\d)(19\d\d|20\d\d)(?!\d)", name)
    return int(found[-1]) if found else 0


class GuidedSession(QFrame):
    """The session panel, inserted at the top of ``dock``; ``shutdown()`` before the dock goes."""

    def __init__(self, dock, iface) -> None:
        super().__init__(dock.widget())
        self.setObjectName("guidedSessionPanel")
        self.dock = dock
        self.iface = iface
        self.steps: tuple[GuidedStep, ...] = steps()
        self.index = 0
        self.done: set[str] = set()
        self.baseline_layers: set[str] = set()
        self.baseline_groups: set[str] = set()
        self.view: QgsRectangle | None = None
        self.workdir: Path | None = None
        self._highlighted: tuple[QWidget, str] | None = None
        self._build()
        dock.widget().layout().insertWidget(0, self)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.refresh)

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(3)
        head = QHBoxLayout()  # title, one numbered chip per step (ticked when done), close
        title = QLabel(tr("Guided session"))
        title.setToolTip(tr("Guided session (training)"))
        head.addWidget(title)
        self.chips: list[QToolButton] = []
        for i, step in enumerate(self.steps):
            chip = QToolButton()
            chip.setObjectName(f"guidedStepChip{i + 1}")
            chip.setAutoRaise(True)
            chip.setToolTip(step.title)
            chip.clicked.connect(lambda _checked=False, n=i: self.go(n))
            head.addWidget(chip)
            self.chips.append(chip)
        head.addStretch(1)
        close = QToolButton()
        close.setText("×")
        close.setAutoRaise(True)
        close.setToolTip(tr("Close the guided session (the map stays as it is)."))
        close.clicked.connect(self.close_session)
        head.addWidget(close)
        layout.addLayout(head)
        self.step_title = QLabel()
        self.step_title.setObjectName("guidedStepTitle")
        self.step_title.setWordWrap(True)
        self.step_text = QLabel()
        self.step_text.setObjectName("guidedStepText")
        self.step_text.setWordWrap(True)
        layout.addWidget(self.step_title)
        layout.addWidget(self.step_text)
        row = QHBoxLayout()
        self.previous_button = QPushButton(tr("Previous"))
        self.previous_button.setObjectName("guidedPreviousButton")
        self.next_button = QPushButton(tr("Next"))
        self.next_button.setObjectName("guidedNextButton")
        self.reset_button = QPushButton(tr("Reset for the next participant"))
        self.reset_button.setObjectName("guidedResetButton")
        self.reset_button.setToolTip(
            tr(
                "Remove the layers added since the session started, clear the selections and the "
                "results, go back to step 1 and to the demo view."
            )
        )
        self.previous_button.clicked.connect(lambda: self.go(self.index - 1))
        self.next_button.clicked.connect(lambda: self.go(self.index + 1))
        self.reset_button.clicked.connect(self.reset)
        row.addWidget(self.previous_button)
        row.addWidget(self.next_button)
        layout.addLayout(row)
        layout.addWidget(self.reset_button)

    # -- session -----------------------------------------------------------------------------
    def start(self) -> None:
        """Show the panel on step 1, remembering the project as it is (what Reset comes back to)."""
        if self.workdir is None:
            self._begin()
        self.show()
        self.dock.show()
        self.dock.raise_()
        self.timer.start()
        self.go(self.index)

    def _begin(self) -> None:
        project = QgsProject.instance()
        self.baseline_layers = set(project.mapLayers())
        self.baseline_groups = {g.name() for g in project.layerTreeRoot().findGroups()}
        self.view = self._demo_view()
        self.workdir = Path(tempfile.mkdtemp(prefix="participant-", dir=self._sessions_dir()))
        self.done = set()
        self.index = 0

    @staticmethod
    def _sessions_dir() -> Path:
        folder = cache_dir() / "guided_session"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _demo_view(self) -> QgsRectangle:
        """The project's default view (the demo region), else what the map shows now."""
        project = QgsProject.instance()
        default = project.viewSettings().defaultViewExtent()
        canvas = self.iface.mapCanvas()
        if not default.isEmpty() and default.crs() == canvas.mapSettings().destinationCrs():
            return QgsRectangle(default)
        return QgsRectangle(canvas.extent())

    def close_session(self) -> None:
        self.timer.stop()
        self._unhighlight()
        self.hide()

    def shutdown(self) -> None:
        """Stop polling and remove the outline (the plugin is unloading)."""
        self.close_session()

    # -- steps -------------------------------------------------------------------------------
    @property
    def step(self) -> GuidedStep:
        return self.steps[self.index]

    def target(self, step: GuidedStep | None = None) -> QWidget | None:
        """The widget to click at ``step`` (found in the dock by its objectName), or None."""
        return self.dock.findChild(QWidget, (step or self.step).target)

    def go(self, index: int) -> None:
        """Show step ``index``: its tab, its prepared inputs, its outlined widget."""
        self.index = max(0, min(len(self.steps) - 1, index))
        step = self.step
        tab = getattr(self.dock, step.tab, None)
        if tab is not None:
            self.dock.tabs.setCurrentWidget(tab)
        if step.key not in self.done:
            try:
                getattr(self, f"_prepare_{step.key}", lambda: None)()
            except Exception as exc:  # a failed preparation must not stop the session
                LOG.warning("guided session: step %s not prepared: %s", step.key, exc)
        self.refresh()

    def refresh(self) -> None:
        """Tick the steps whose check passes; update the texts and the outline."""
        for step in self.steps:
            if step.key not in self.done and self.check(step.check):
                self.done.add(step.key)
                if step.key == "fibre":
                    self._zoom_to_fibre()
        for i, (chip, step) in enumerate(zip(self.chips, self.steps)):
            chip.setText(("✓" if step.key in self.done else "") + str(i + 1))
            chip.setToolTip(step_label(i, step, step.key in self.done))
            font = chip.font()
            font.setBold(i == self.index)
            chip.setFont(font)
        step = self.step
        self.step_title.setText(
            "<b>"
            + tr("Step {n} of {total}: {title}").format(
                n=self.index + 1, total=len(self.steps), title=step.title
            )
            + "</b>"
        )
        text = step.text
        target = self.target(step)
        if step.key in self.done:
            last = self.index == len(self.steps) - 1
            text += "\n" + (
                tr("Done! The session is over: click Reset for the next participant.")
                if last
                else tr("Done! Click Next.")
            )
            target = self.reset_button if last else self.next_button
        elif target is None:
            text += "\n" + tr(
                "The button for this step is not in this version of the plugin: skip it with Next."
            )
        self.step_text.setText(text)
        self.previous_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < len(self.steps) - 1)
        self._highlight(target)

    def _highlight(self, widget: QWidget | None) -> None:
        if self._highlighted is not None and self._highlighted[0] is widget:
            return
        self._unhighlight()
        if widget is None:
            return
        name = widget.objectName()
        old = widget.styleSheet()
        widget.setStyleSheet(f"{old}\n#{name} {{ {HIGHLIGHT} }}" if name else HIGHLIGHT)
        self._highlighted = (widget, old)
        parent = widget.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if isinstance(parent, QScrollArea):
            parent.ensureWidgetVisible(widget)

    def _unhighlight(self) -> None:
        if self._highlighted is None:
            return
        widget, old = self._highlighted
        self._highlighted = None
        try:
            widget.setStyleSheet(old)
        except RuntimeError:  # the widget is gone
            pass

    def highlighted(self) -> QWidget | None:
        """The widget outlined now (for tests and screenshots)."""
        return self._highlighted[0] if self._highlighted else None

    # -- completion checks (names from core.guided_session.CHECK_NAMES) -------------------
    def check(self, name: str) -> bool:
        return bool(getattr(self, f"_check_{name}")())

    def new_layers(self) -> list:
        project = QgsProject.instance()
        return [lyr for lid, lyr in project.mapLayers().items() if lid not in self.baseline_layers]

    def _check_catalog_results(self) -> bool:
        return self.dock.catalog_tab.results.count() > 0

    def _check_imagery_streamed(self) -> bool:
        return any(isinstance(lyr, QgsRasterLayer) for lyr in self.new_layers())

    def _check_detections_layer(self) -> bool:
        return any(
            is_result_layer(lyr.fields().names()) and "change" not in lyr.fields().names()
            for lyr in self._new_vectors()
        )

    def _check_explanation_opened(self) -> bool:
        return bool(self._explanation_windows())

    @staticmethod
    def _explanation_windows() -> list:
        return [
            w
            for w in QApplication.topLevelWidgets()
            if type(w).__name__ == EXPLANATION_WINDOW and w.isVisible()
        ]

    def _check_change_layer(self) -> bool:
        return any("change" in lyr.fields().names() for lyr in self._new_vectors())

    def _check_fibre_layer(self) -> bool:
        new = {lyr.id() for lyr in self.new_layers()}
        return any(lid in new for lid in self.dock.fibre_tab.layers.values())

    def _zoom_to_fibre(self) -> None:
        """Coverage is per commune: show the communes, not the few streets of the demo region."""
        from qgis.core import QgsCoordinateTransform

        layer = self.dock.fibre_tab.layer("commune")
        if layer is None:
            return
        canvas = self.iface.mapCanvas()
        xform = QgsCoordinateTransform(
            layer.crs(), canvas.mapSettings().destinationCrs(), QgsProject.instance()
        )
        canvas.setExtent(xform.transformBoundingBox(layer.extent()))
        canvas.refresh()

    def _new_vectors(self) -> list:
        return [lyr for lyr in self.new_layers() if isinstance(lyr, QgsVectorLayer)]

    # -- preparing each step's inputs ---------------------------------------------------------
    def _streamed(self) -> list:
        """The rasters added in this session, oldest vintage first."""
        rasters = [lyr for lyr in self.new_layers() if isinstance(lyr, QgsRasterLayer)]
        return sorted(rasters, key=lambda lyr: _year(lyr.name()))

    def _prepare_search(self) -> None:
        from ..core.catalog.presets import DEMO_SOURCE_ID

        tab = self.dock.catalog_tab
        for i in range(tab.source_combo.count()):
            cfg = tab.source_combo.itemData(i)
            if cfg is not None and cfg.id == DEMO_SOURCE_ID:
                tab.source_combo.setCurrentIndex(i)
        tab.extent_canvas.setChecked(True)

    def _prepare_stream(self) -> None:
        """Select the 20 cm images of every vintage (one mosaic per vintage once added)."""
        tab = self.dock.catalog_tab
        tab.results.clearSelection()
        for row in range(tab.results.count()):
            item = tab.items[row]
            if item.gsd and abs(item.gsd - 0.2) < 1e-6:
                tab.results.item(row).setSelected(True)

    def _prepare_detect(self) -> None:
        from . import detection_tab as dt

        tab = self.dock.detection_tab
        streamed = self._streamed()
        if streamed:
            tab.layer_combo.setLayer(streamed[-1])
        idx = tab.model_combo.findData(f"bundled:{DEMO_MODEL_FILE}")
        if idx >= 0:
            tab.model_combo.setCurrentIndex(idx)
        tab.set_extent_mode(dt.EXTENT_CANVAS)
        tab.output_widget.setFilePath(str(self.workdir / "detections.gpkg"))

    def _prepare_change(self) -> None:
        from ..core.inference.models_registry import BUNDLED_DIR

        tab = self.dock.analysis_tab
        streamed = self._streamed()
        tab.mode_images.setChecked(True)
        if len(streamed) >= 2:
            tab.before_raster.setLayer(streamed[0])
            tab.after_raster.setLayer(streamed[-1])
            years = [_year(streamed[0].name()), _year(streamed[-1].name())]
            if all(years) and years[0] != years[1]:
                tab.vintages_edit.setText(f"{years[0]},{years[1]}")
        tab.model_widget.setFilePath(str(BUNDLED_DIR / DEMO_MODEL_FILE))
        tab.change_output.setFilePath(str(self.workdir / "changes.gpkg"))

    def _prepare_fibre(self) -> None:
        from ..core import offline_kit as kit

        tab = self.dock.fibre_tab
        tab.ftth_file.setText(str(kit.BUNDLED_FTTH))
        tab.premises_file.setText("")  # the bundled file carries the premises
        tab.boundaries_file.setText(str(kit.BUNDLED_BOUNDARIES))

    # -- reset -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Undo the participant's work: new layers and groups, selections, results; step 1, demo view."""
        for tab_name in ("catalog_tab", "detection_tab", "analysis_tab", "fibre_tab"):
            tab = getattr(self.dock, tab_name, None)
            if tab is not None and hasattr(tab, "cancel"):
                tab.cancel()
        self._unhighlight()
        for window in self._explanation_windows():
            window.close()
        for step in self.steps:  # a checkable target (the "why" map tool) still on: off
            button = self.target(step)
            if isinstance(button, QAbstractButton) and button.isChecked():
                button.setChecked(False)
        project = QgsProject.instance()
        for lyr in project.mapLayers().values():  # first, so QGIS's status bar forgets the counts
            if isinstance(lyr, QgsVectorLayer):
                lyr.removeSelection()
        project.removeMapLayers([lyr.id() for lyr in self.new_layers()])
        root = project.layerTreeRoot()
        for group in root.findGroups():
            if group.name() not in self.baseline_groups and not group.findLayers():
                group.parent().removeChildNode(group)
        self.iface.messageBar().clearWidgets()  # the last participant's "task complete" messages
        catalog = self.dock.catalog_tab
        catalog.results.clear()
        catalog.items = []
        catalog.status.setText(tr("Pick a source and search."))
        detection = self.dock.detection_tab
        detection.last_layer = None
        detection.last_report = None
        detection.report_button.setEnabled(False)
        detection.summary_label.setText("")
        detection.status_label.setText("")
        analysis = self.dock.analysis_tab
        analysis.change_layer = None
        analysis.zones_layer = None
        analysis.status.setText("")
        self.dock.fibre_tab.layers = {}
        self.dock.fibre_tab.status.setText("")
        if self.view is not None:
            canvas = self.iface.mapCanvas()
            canvas.setExtent(self.view)
            canvas.refresh()
        old = self.workdir
        self.workdir = Path(tempfile.mkdtemp(prefix="participant-", dir=self._sessions_dir()))
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)  # its layers are closed: nothing else reads it
        self.done = set()
        self.go(0)

    def step_done(self, key: str) -> bool:
        """Whether step ``key`` is ticked."""
        return key in self.done


# every check named in the core step list has its method here (tested)
CHECKS = {name: f"_check_{name}" for name in CHECK_NAMES}
