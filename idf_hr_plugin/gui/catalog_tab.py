"""Catalog tab: pick a source, an extent, dates, GSD, collection; search; add to map; download."""

from __future__ import annotations

import logging
from dataclasses import replace

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProject,
    QgsRectangle,
)
from qgis.gui import QgsMapToolExtent
from qgis.PyQt.QtCore import QDate, QSize, Qt
from qgis.PyQt.QtGui import QIcon, QPixmap
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from ..core.catalog.model import Item, SearchQuery
from ..core.errors import IdfHrError
from ..gis import layers, tasks
from ..gis.i18n import num, tr
from ..gis.settings import Settings
from .task_runner import (
    RunsTasks,
    TaskRunner,
    no_widening,
    scrolled_with_footer,
    task_controls,
    wrapping_check,
)

LOG = logging.getLogger("idf_hr.gui")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
ITEM_ROLE = Qt.ItemDataRole.UserRole + 1


class CatalogTab(QWidget, RunsTasks):
    """Search any configured catalog source and stream or pack the imagery it returns."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.items: list[Item] = []
        self.footprints_layer_id: str | None = None
        self.drawn_extent: QgsRectangle | None = None
        self.drawn_crs: QgsCoordinateReferenceSystem | None = None
        self.map_tool: QgsMapToolExtent | None = None
        self.previous_tool = None
        self.thumb_task: tasks.IdfHrTask | None = None
        self._build()
        self.reload_sources()

    # -- layout ----------------------------------------------------------------------
    def _build(self) -> None:
        root, footer = scrolled_with_footer(self)
        form = QFormLayout()
        self.source_combo = QComboBox()
        self.source_combo.setToolTip(tr("Catalog sources are managed in Settings › IdF HR."))
        no_widening(self.source_combo)
        form.addRow(tr("Source"), self.source_combo)

        where = QGroupBox(tr("Where"))
        where_l = QGridLayout(where)
        self.extent_canvas = QRadioButton(tr("Map extent"))
        self.extent_canvas.setChecked(True)
        self.extent_drawn = QRadioButton(tr("Drawn rectangle"))
        self.draw_button = QPushButton(tr("Draw…"))
        self.draw_button.setToolTip(tr("Drag a rectangle on the map to search there."))
        group = QButtonGroup(self)
        group.addButton(self.extent_canvas)
        group.addButton(self.extent_drawn)
        where_l.addWidget(self.extent_canvas, 0, 0)
        where_l.addWidget(self.extent_drawn, 1, 0)
        where_l.addWidget(self.draw_button, 1, 1)

        when = QGroupBox(tr("When"))
        when_l = QGridLayout(when)
        self.use_dates = QCheckBox(tr("Between"))
        self.date_from = QDateEdit(QDate(2000, 1, 1))
        self.date_to = QDateEdit(QDate.currentDate())
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.use_dates.toggled.connect(self.date_from.setEnabled)
        self.use_dates.toggled.connect(self.date_to.setEnabled)
        when_l.addWidget(self.use_dates, 0, 0, 1, 3)
        when_l.addWidget(self.date_from, 1, 0)
        when_l.addWidget(QLabel(tr("and")), 1, 1)
        when_l.addWidget(self.date_to, 1, 2)

        self.max_gsd = QDoubleSpinBox()
        self.max_gsd.setRange(0, 10000)
        self.max_gsd.setDecimals(0)
        self.max_gsd.setSuffix(" cm")
        self.max_gsd.setSpecialValueText(tr("any"))
        self.max_gsd.setToolTip(tr("Only results at this ground sample distance or finer."))
        self.collection = QComboBox()
        self.collection.setEditable(True)
        self.collection.addItem("")
        self.collection.setToolTip(tr("Restrict to one collection (empty: all)."))
        no_widening(self.collection)
        form2 = QFormLayout()
        form2.addRow(tr("Max. resolution"), self.max_gsd)
        form2.addRow(tr("Collection"), self.collection)

        buttons, self.search_button, self.cancel_button, self.progress = task_controls(tr("Search"))

        self.footprint_labels = QCheckBox(tr("Label the footprints"))
        self.footprint_labels.setChecked(True)
        self.footprint_labels.setToolTip(tr("Show the tile name on each footprint drawn on the map."))
        self.footprint_labels.toggled.connect(self._footprint_labels_toggled)

        self.results = QListWidget()
        self.results.setIconSize(QSize(64, 64))
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.status = QLabel(tr("Pick a source and search."))
        self.status.setWordWrap(True)

        actions = QVBoxLayout()  # one above the other: side by side they are cut in a narrow dock
        self.add_button = QPushButton(tr("Add to map"))
        self.add_button.setToolTip(
            tr("Stream the selected results into QGIS (several tiles of one vintage open as one mosaic).")
        )
        self.download_button = QPushButton(tr("Download for offline…"))
        self.download_button.setToolTip(tr("Save the imagery of an extent to a local file for offline work."))
        self.add_button.setEnabled(False)
        self.download_button.setEnabled(False)
        actions.addWidget(self.add_button)
        actions.addWidget(self.download_button)

        root.addLayout(form)
        root.addWidget(where)
        root.addWidget(when)
        root.addLayout(form2)
        root.addWidget(wrapping_check(self.footprint_labels))
        self.results.setMinimumHeight(160)
        root.addWidget(self.results, 1)
        from .shared_results_box import SharedResultsBox

        self.shared_results = SharedResultsBox(self)  # what partners published (issue 11)
        root.addWidget(self.shared_results)
        footer.addLayout(buttons)
        footer.addWidget(self.progress)
        footer.addWidget(self.status)
        footer.addLayout(actions)

        self.search_button.setObjectName("catalogSearchButton")  # targeted by the guided session
        self.add_button.setObjectName("catalogAddButton")
        self.results.setObjectName("catalogResultsList")
        self.search_button.clicked.connect(self.search)
        self.runner = TaskRunner(self.progress, self.status, self.cancel_button, [self.search_button])
        self.draw_button.clicked.connect(self.start_drawing)
        self.results.itemSelectionChanged.connect(self._selection_changed)
        self.results.itemDoubleClicked.connect(lambda _item: self.add_selected_to_map())
        self.add_button.clicked.connect(self.add_selected_to_map)
        self.download_button.clicked.connect(self.download_selected)
        self.source_combo.currentIndexChanged.connect(self._source_changed)

    # -- sources -------------------------------------------------------------------------
    def reload_sources(self) -> None:
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        last = Settings.LAST_SOURCE.value()
        for cfg in Settings.sources():
            if not cfg.enabled:
                continue
            self.source_combo.addItem(cfg.name, cfg)
            if cfg.id == last:
                self.source_combo.setCurrentIndex(self.source_combo.count() - 1)
        self.source_combo.blockSignals(False)

    def _source_changed(self) -> None:
        cfg = self.source_combo.currentData()
        if cfg is not None:
            Settings.LAST_SOURCE.set(cfg.id)

    # -- extent ----------------------------------------------------------------------------
    def start_drawing(self) -> None:
        canvas = self.iface.mapCanvas()
        if self.map_tool is None:
            self.map_tool = QgsMapToolExtent(canvas)
            self.map_tool.extentChanged.connect(self._extent_drawn)
        self.previous_tool = canvas.mapTool()
        canvas.setMapTool(self.map_tool)
        self.status.setText(tr("Drag a rectangle on the map."))

    def _extent_drawn(self, rect: QgsRectangle) -> None:
        canvas = self.iface.mapCanvas()
        self.set_drawn_extent(rect, canvas.mapSettings().destinationCrs())
        if self.previous_tool is not None:
            canvas.setMapTool(self.previous_tool)
        else:
            canvas.unsetMapTool(self.map_tool)

    def set_drawn_extent(self, rect: QgsRectangle, crs: QgsCoordinateReferenceSystem) -> None:
        self.drawn_extent = QgsRectangle(rect)
        self.drawn_crs = crs
        self.extent_drawn.setChecked(True)
        self.status.setText(tr("Rectangle set; press Search."))

    def search_bbox(self) -> tuple[float, float, float, float] | None:
        """The search extent in WGS84 (drawn rectangle or current map extent)."""
        if self.extent_drawn.isChecked() and self.drawn_extent is not None:
            rect, crs = self.drawn_extent, self.drawn_crs
        else:
            canvas = self.iface.mapCanvas()
            rect, crs = canvas.extent(), canvas.mapSettings().destinationCrs()
        if rect is None or rect.isEmpty() or crs is None or not crs.isValid():
            return None
        xform = QgsCoordinateTransform(crs, WGS84, QgsProject.instance())
        out = xform.transformBoundingBox(rect)
        if out.width() > 20 or out.height() > 20:  # a whole-world canvas means "no spatial filter"
            return None
        return (out.xMinimum(), out.yMinimum(), out.xMaximum(), out.yMaximum())

    def current_query(self) -> SearchQuery:
        gsd = self.max_gsd.value()
        coll = self.collection.currentText().strip()
        query = SearchQuery(
            bbox=self.search_bbox(),
            collections=[coll] if coll else [],
            max_gsd=gsd / 100.0 if gsd > 0 else None,
            limit=int(Settings.SEARCH_LIMIT.value()),
        )
        if self.use_dates.isChecked():
            query = replace(
                query,
                datetime_start=self.date_from.date().toString("yyyy-MM-dd"),
                datetime_end=self.date_to.date().toString("yyyy-MM-dd"),
            )
        return query

    # -- search ------------------------------------------------------------------------------
    def search(self) -> None:
        cfg = self.source_combo.currentData()
        if cfg is None:
            self.status.setText(tr("No catalog source is enabled: add one in Settings › IdF HR."))
            return
        query = self.current_query()

        def work(progress, is_canceled):
            from ..core.catalog.sources import run_search
            from ..gis.network import source_for

            source = source_for(cfg)
            found = []

            def step(item) -> None:
                found.append(item)
                progress(min(0.99, len(found) / max(1, query.limit)))

            outcome = run_search(source, query, cancel=is_canceled, on_item=step)
            collections = []
            try:
                collections = [c.id for c in source.collections()]
            except IdfHrError:
                pass
            return found, collections, outcome.warnings

        self.runner.run(
            tr("IdF HR: catalog search"),
            work,
            self._search_done,
            tr("Searching {name}…").format(name=cfg.name),
        )

    def _search_done(self, result) -> None:
        items, collections, warnings = result
        # newest vintage first, finest resolution first within a vintage
        items = sorted(items, key=lambda it: (-(it.year or 0), it.gsd or 1e9, it.collection or "", it.id))
        self.items = items
        current = self.collection.currentText()
        self.collection.blockSignals(True)
        self.collection.clear()
        self.collection.addItems([""] + sorted(set(collections)))
        self.collection.setCurrentText(current)
        self.collection.blockSignals(False)
        self.results.clear()
        for idx, item in enumerate(items):
            gsd = f"{num(item.gsd * 100)} cm" if item.gsd else "?"
            date = (item.datetime or "")[:10] or tr("undated")
            label = f"{date} · {gsd} · {item.collection or item.title or ''}\n{item.id}"
            row = QListWidgetItem(label)
            row.setData(ITEM_ROLE, idx)
            row.setToolTip(item.title or item.id)
            self.results.addItem(row)
        self._show_footprints(items)
        if items:
            self.status.setText(tr("{n} results. Select some, then Add to map.").format(n=len(items)))
            self._load_thumbnails(items)
        else:
            self.status.setText(tr("No results here: widen the extent or the dates, or pick another source."))
        if warnings:  # e.g. paging stopped early: the list is incomplete and the user must know
            self.status.setText(self.status.text() + "\n" + "\n".join(warnings))
            self.iface.messageBar().pushMessage(
                tr("IdF HR: catalog search"), " ".join(warnings), Qgis.MessageLevel.Warning, 0
            )
        self._selection_changed()

    def _show_footprints(self, items: list[Item]) -> None:
        project = QgsProject.instance()
        if self.footprints_layer_id and project.mapLayer(self.footprints_layer_id) is not None:
            project.removeMapLayer(self.footprints_layer_id)
        self.footprints_layer_id = None
        if not items:
            return
        layer = layers.footprints_layer(items)
        layer.setLabelsEnabled(layer.labelsEnabled() and self.footprint_labels.isChecked())
        layers.add_on_top(layer, project)
        self.footprints_layer_id = layer.id()

    def _footprint_labels_toggled(self, on: bool) -> None:
        layer = self.footprints_layer()
        if layer is not None:
            layer.setLabelsEnabled(on)
            layer.triggerRepaint()

    def footprints_layer(self):
        if not self.footprints_layer_id:
            return None
        return QgsProject.instance().mapLayer(self.footprints_layer_id)

    def _load_thumbnails(self, items: list[Item]) -> None:
        wanted = [(i, it.thumbnail.href) for i, it in enumerate(items) if it.thumbnail is not None][:100]
        if not wanted:
            return

        def work(progress, is_canceled):
            from ..core.catalog.hrefs import href_to_local_path
            from ..core.http import default_client

            client = default_client()
            out = {}
            for n, (idx, href) in enumerate(wanted):
                if is_canceled():
                    break
                try:
                    local = href_to_local_path(href)
                    if local is None:
                        out[idx] = client.get(href, timeout=10).content
                    else:
                        out[idx] = local.read_bytes()
                except (IdfHrError, OSError) as exc:
                    LOG.info("thumbnail %s not loaded: %s", href, exc)
                progress((n + 1) / len(wanted))
            return out

        self.thumb_task = tasks.IdfHrTask(tr("IdF HR: thumbnails"), work, on_done=self._thumbnails_done)
        tasks.start(self.thumb_task)

    def _thumbnails_done(self, thumbs: dict) -> None:
        self.thumb_task = None
        for row in range(self.results.count()):
            widget_item = self.results.item(row)
            data = thumbs.get(widget_item.data(ITEM_ROLE))
            if data:
                pix = QPixmap()
                if pix.loadFromData(data):
                    widget_item.setIcon(QIcon(pix))

    # -- selection / actions ---------------------------------------------------------------
    def selected_items(self) -> list[Item]:
        return [self.items[w.data(ITEM_ROLE)] for w in self.results.selectedItems()]

    def _selection_changed(self) -> None:
        selected = self.selected_items()
        self.add_button.setEnabled(bool(selected))
        self.download_button.setEnabled(bool(selected))
        layer = self.footprints_layer()
        if layer is not None:
            wanted = {it.id for it in selected}
            ids = [f.id() for f in layer.getFeatures() if f["id"] in wanted]
            layer.selectByIds(ids)

    def add_selected_to_map(self) -> list:
        """Open the selected results: one layer per WMTS layer, one mosaic per vintage of tiles."""
        groups: dict[tuple, list[Item]] = {}
        for item in self.selected_items():
            key = ("wmts", item.id) if item.wmts else ("tiles", item.collection, item.year)
            groups.setdefault(key, []).append(item)
        added = []
        errors = []
        for group in groups.values():
            try:
                layer = layers.imagery_layer(group)
            except IdfHrError as exc:
                errors.append(str(exc))
                continue
            layers.add_on_top(layer)
            added.append(layer)
        if errors:
            self.status.setText("\n".join(errors))
        elif added:
            self.status.setText(tr("Added {n} layer(s) to the map.").format(n=len(added)))
        return added

    def download_selected(self) -> None:
        """Open the offline download algorithm on the selected imagery, prefilled with the map extent."""
        added = [lyr for lyr in self.add_selected_to_map()]
        if not added:
            return
        import processing

        canvas = self.iface.mapCanvas()
        extent = canvas.extent()
        crs = canvas.mapSettings().destinationCrs().authid()
        processing.execAlgorithmDialog(
            "idfhr:downloadimagery",
            {
                "INPUT": added[0].id(),
                "EXTENT": f"{extent.xMinimum()},{extent.xMaximum()},{extent.yMinimum()},{extent.yMaximum()} [{crs}]",
            },
        )

    def shutdown(self) -> None:
        self.shared_results.shutdown()
        for task in (self.task, self.thumb_task):
            if task is not None:
                task.cancel()
        if self.map_tool is not None:
            self.iface.mapCanvas().unsetMapTool(self.map_tool)
            self.map_tool.deleteLater()
            self.map_tool = None
