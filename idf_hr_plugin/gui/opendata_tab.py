"""Open data tab: Opendatasoft portals (MGP, Paris, user-added), data.gouv.fr, curated MGP themes,
offline cache, zoom to a commune or EPT. All network work runs in :class:`IdfHrTask`."""

from __future__ import annotations

import html
import logging

from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import IdfHrError
from ..core.opendata.cache import DatasetCache
from ..core.opendata.themes import THEMES
from ..gis import opendata_layers as odl
from ..gis import tasks
from ..gis.i18n import tr, user_locale
from ..gis.layers import add_on_top
from ..gis.settings import Settings
from .opendata_widgets import AddPortalDialog, PlaceZoomBar
from .task_runner import (
    RunsTasks,
    TaskRunner,
    no_widening,
    scrolled_with_footer,
    task_controls,
    wrapping_check,
)

LOG = logging.getLogger("idf_hr.gui.opendata")
DATA_ROLE = Qt.ItemDataRole.UserRole + 1
COMMON_THEMES = ("", "Environnement", "Urbanisme", "Culture", "Mobilité et Transport", "Services")


class OpenDataTab(QWidget, RunsTasks):
    """Search, preview and load open datasets; themes; cached datasets; commune/EPT zoom."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.places_task: tasks.IdfHrTask | None = None
        self.results_data: list = []
        self.current_info = None  # DatasetInfo or DataGouvDataset of the previewed result
        self.boundaries = None
        self.added_layers: list[str] = []
        self._build()
        self.reload_portals()
        self.refresh_cached()

    @staticmethod
    def tab_title() -> str:
        return tr("Open data")

    # -- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        root, footer = scrolled_with_footer(self)
        portal_row = QHBoxLayout()
        self.portal_combo = QComboBox()
        self.add_portal_button = QPushButton(tr("Add portal…"))
        self.add_portal_button.setToolTip(tr("Add any Opendatasoft portal by its address."))
        portal_row.addWidget(self.portal_combo, 1)
        portal_row.addWidget(self.add_portal_button)

        form = QFormLayout()
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(tr("Words of the title or description"))
        self.theme_filter = QComboBox()
        self.theme_filter.setEditable(True)
        self.theme_filter.addItems(list(COMMON_THEMES))
        self.geo_only = QCheckBox(tr("Geographic datasets only"))
        self.geo_only.setChecked(True)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.addRow(tr("Portal"), portal_row)
        form.addRow(tr("Search"), self.search_edit)
        form.addRow(tr("Theme"), self.theme_filter)
        form.addRow(wrapping_check(self.geo_only))
        no_widening(self.portal_combo, self.theme_filter)

        buttons, self.search_button, self.cancel_button, self.progress = task_controls(tr("Search"))

        self.results = QListWidget()
        self.preview = QTextBrowser()
        self.preview.setMaximumHeight(160)
        self.resources = QListWidget()  # data.gouv.fr resources of the previewed dataset
        self.resources.setMaximumHeight(90)
        self.resources.setVisible(False)

        load_box = QGroupBox(tr("Load"))
        load_form = QFormLayout(load_box)
        self.where_edit = QLineEdit()
        self.where_edit.setPlaceholderText(tr('capacity > 40   (e.g. arrondissement = "PARIS 11E")'))
        self.extent_check = QCheckBox(tr("Only the map extent"))
        self.load_button = QPushButton(tr("Load all records"))
        self.load_button.setEnabled(False)
        # not tr("Where"): that one is the catalog's location ("Où"); this is an ODSQL condition
        load_form.addRow(tr("Filter (ODSQL where)"), self.where_edit)
        load_form.addRow(wrapping_check(self.extent_check))
        load_form.addRow(self.load_button)

        theme_box = QGroupBox(tr("Metropolitan themes (MGP)"))
        theme_row = QVBoxLayout(theme_box)
        self.theme_combo = QComboBox()
        lang = user_locale()
        for key, preset in THEMES.items():
            self.theme_combo.addItem(preset.label(lang), key)
        self.theme_button = QPushButton(tr("Load theme"))
        self.theme_button.setToolTip(
            tr("Loads the datasets of the theme from the MGP portal with a ready-made style.")
        )
        no_widening(self.theme_combo)
        theme_row.addWidget(self.theme_combo)
        theme_row.addWidget(self.theme_button)

        cached_box = QGroupBox(tr("Cached datasets (offline)"))
        cached_l = QVBoxLayout(cached_box)
        self.cached_list = QListWidget()
        self.cached_list.setMaximumHeight(100)
        cached_buttons = QGridLayout()
        self.load_cached_button = QPushButton(tr("Load cached"))
        self.refresh_cached_button = QPushButton(tr("Refresh list"))
        cached_buttons.addWidget(self.load_cached_button, 0, 0)
        cached_buttons.addWidget(self.refresh_cached_button, 1, 0)
        cached_l.addWidget(self.cached_list)
        cached_l.addLayout(cached_buttons)

        place_box = QGroupBox(tr("Zoom to a commune or EPT"))
        place_l = QVBoxLayout(place_box)
        self.place_bar = PlaceZoomBar()
        place_l.addWidget(self.place_bar)

        self.status = QLabel(tr("Pick a portal and search."))
        self.status.setWordWrap(True)

        self.results.setMinimumHeight(120)
        root.addLayout(form)
        root.addWidget(self.results, 1)
        root.addWidget(self.preview)
        root.addWidget(self.resources)
        root.addWidget(load_box)
        root.addWidget(theme_box)
        root.addWidget(cached_box)
        root.addWidget(place_box)
        footer.addLayout(buttons)
        footer.addWidget(self.progress)
        footer.addWidget(self.status)

        self.portal_combo.currentIndexChanged.connect(self._portal_changed)
        self.add_portal_button.clicked.connect(self.open_add_portal)
        self.search_button.clicked.connect(self.search)
        self.search_edit.returnPressed.connect(self.search)
        self.runner = TaskRunner(self.progress, self.status, self.cancel_button, [self.search_button])
        self.results.currentRowChanged.connect(self.show_preview)
        self.load_button.clicked.connect(self.load_selected)
        self.theme_button.clicked.connect(self.load_theme)
        self.load_cached_button.clicked.connect(self.load_cached_selected)
        self.refresh_cached_button.clicked.connect(self.refresh_cached)
        self.place_bar.zoom_button.clicked.connect(self.zoom_to_place)
        self.place_bar.edit.returnPressed.connect(self.zoom_to_place)

    # -- portals ------------------------------------------------------------------------
    def reload_portals(self) -> None:
        last = Settings.OPENDATA_LAST_PORTAL.value()
        self.portal_combo.blockSignals(True)
        self.portal_combo.clear()
        for choice in odl.portal_choices():
            self.portal_combo.addItem(choice.name, choice)
            self.portal_combo.setItemData(
                self.portal_combo.count() - 1, choice.url, Qt.ItemDataRole.ToolTipRole
            )
            if choice.key == last:
                self.portal_combo.setCurrentIndex(self.portal_combo.count() - 1)
        self.portal_combo.blockSignals(False)
        self._portal_changed()

    def select_portal(self, key_or_url: str) -> None:
        """Select a portal by key (``mgp``, ``paris``, ``datagouv``) or URL."""
        for i in range(self.portal_combo.count()):
            c = self.portal_combo.itemData(i)
            if key_or_url in (c.key, c.url, c.url.rstrip("/")):
                self.portal_combo.setCurrentIndex(i)
                return
        raise IdfHrError(tr("The portal {name} is not in the list.").format(name=key_or_url))

    def current_portal(self):
        return self.portal_combo.currentData()

    def _portal_changed(self) -> None:
        choice = self.current_portal()
        if choice is None:
            return
        Settings.OPENDATA_LAST_PORTAL.set(choice.key)
        is_dg = choice.kind == "datagouv"
        self.theme_filter.setEnabled(not is_dg)
        self.geo_only.setEnabled(not is_dg)
        self.where_edit.setEnabled(not is_dg)
        self.extent_check.setEnabled(not is_dg)
        self.resources.setVisible(is_dg)
        self.load_button.setText(tr("Load resource") if is_dg else tr("Load all records"))
        self.results.clear()
        self.results_data = []
        self.preview.clear()
        self.resources.clear()
        self.load_button.setEnabled(False)

    def open_add_portal(self) -> None:
        dlg = AddPortalDialog(self)
        if dlg.exec() and dlg.choice is not None:
            self.reload_portals()
            self.select_portal(dlg.choice.key)

    def add_portal(self, name: str, url: str) -> None:
        """Add an Opendatasoft portal (what the dialog does), select it."""
        choice = odl.add_user_portal(name, url)
        self.reload_portals()
        self.select_portal(choice.key)

    # -- task plumbing ---------------------------------------------------------------------
    def shutdown(self) -> None:
        for t in (self.task, self.places_task):
            if t is not None:
                t.cancel()

    # -- search -----------------------------------------------------------------------------
    def search(self) -> None:
        choice = self.current_portal()
        if choice is None:
            return
        text = self.search_edit.text().strip()
        if odl.offline():
            self._show_cached_matches(
                text, tr("IdF HR is set to work offline (Settings › IdF HR): searching needs the network.")
            )
            return
        theme = self.theme_filter.currentText().strip()
        geo_only = self.geo_only.isChecked()

        if choice.kind == "datagouv":
            from ..core.opendata.datagouv import DataGouv

            def search():
                return DataGouv(choice.url).search(text or "", page_size=30)
        else:
            from ..core.opendata.ods import OdsPortal

            def search():
                return OdsPortal(choice.url).search_datasets(
                    text=text or None, theme=theme or None, geo_only=geo_only, limit=50
                )

        def work(progress, is_canceled):
            try:
                return search()
            except IdfHrError as exc:
                if odl.unreachable(exc):
                    return exc  # answered on the main thread with what the cache holds
                raise

        def done(found) -> None:
            if isinstance(found, Exception):
                self._show_cached_matches(
                    text,
                    tr("{name} cannot be reached ({error}): searching needs the network.").format(
                        name=choice.name, error=str(found).rstrip(".")
                    ),
                )
            else:
                self._search_done(found)

        self._run(
            tr("IdF HR: open-data search"),
            work,
            done,
            tr("Searching {name}…").format(name=choice.name),
        )

    def _show_cached_matches(self, text: str, why: str) -> None:
        """Offline: list what the cache holds for ``text`` under "Cached datasets" and say so."""
        self.results.clear()  # no result of an earlier search left looking like an answer
        self.results_data = []
        self.preview.clear()
        self.load_button.setEnabled(False)
        self.refresh_cached(text)
        n = self.cached_list.count()
        if n:
            self.cached_list.setCurrentRow(0)
        if n == 1:
            what = tr(
                "1 cached dataset matches: it is listed under “Cached datasets (offline)”, load it from "
                "there, or search again once the network is back."
            )
        elif n:
            what = tr(
                "{n} cached datasets match: they are listed under “Cached datasets (offline)”, load one "
                "from there, or search again once the network is back."
            ).format(n=n)
        else:
            what = tr(
                "No cached dataset matches. Datasets loaded once online are kept for offline use: "
                "search again once the network is back."
            )
        self.status.setText(f"{why} {what}")

    def _search_done(self, found) -> None:
        self.results_data = list(found)
        self.results.blockSignals(True)
        self.results.clear()
        themes = set()
        for i, ds in enumerate(self.results_data):
            self.results.addItem(self._result_item(i, ds))
            themes.update(getattr(ds, "themes", []) or [])
        self.results.blockSignals(False)
        current = self.theme_filter.currentText()
        known = {self.theme_filter.itemText(i) for i in range(self.theme_filter.count())}
        for t in sorted(themes - known):
            self.theme_filter.addItem(t)
        self.theme_filter.setCurrentText(current)
        self.preview.clear()
        self.resources.clear()
        self.load_button.setEnabled(False)
        if self.results_data:
            self.status.setText(
                tr("{n} datasets. Select one to see its fields, licence and size.").format(n=len(found))
            )
        else:
            self.status.setText(
                tr("No dataset matches: try other words, another theme, or untick the filters.")
            )

    @staticmethod
    def _result_item(index: int, ds) -> QListWidgetItem:
        if hasattr(ds, "records_count"):
            n = ds.records_count if ds.records_count is not None else "?"
            line2 = tr("{n} records · {licence} · updated {date}").format(
                n=n, licence=ds.license or tr("licence not stated"), date=(ds.modified or "?")[:10]
            )
        else:
            line2 = tr("{n} resources · {licence} · updated {date}").format(
                n=len(ds.resources),
                licence=ds.license or tr("licence not stated"),
                date=(ds.last_modified or "?")[:10],
            )
        item = QListWidgetItem(f"{ds.title}\n{line2}")
        item.setData(DATA_ROLE, index)
        item.setToolTip(ds.id)
        return item

    # -- preview ------------------------------------------------------------------------------
    def show_preview(self, row: int) -> None:
        if row < 0 or row >= len(self.results_data):
            return
        ds = self.results_data[row]
        choice = self.current_portal()
        if choice.kind == "datagouv":
            from ..core.opendata.datagouv import DataGouv

            def work(progress, is_canceled):
                return DataGouv(choice.url).dataset(ds.id)
        else:
            from ..core.opendata.ods import OdsPortal

            def work(progress, is_canceled):
                return OdsPortal(choice.url).dataset(ds.id)

        self.load_button.setEnabled(False)
        self._run(
            tr("IdF HR: dataset preview"),
            work,
            self._preview_done,
            tr("Reading {title}…").format(title=ds.title),
        )

    def _preview_done(self, info) -> None:
        self.current_info = info
        esc = html.escape
        if hasattr(info, "fields"):
            rows = "".join(f"<tr><td>{esc(f.name)}</td><td>{esc(f.type)}</td></tr>" for f in info.fields)
            body = (
                f"<b>{esc(info.title)}</b><br>"
                + tr("Records: {n}").format(n=info.records_count if info.records_count is not None else "?")
                + "<br>"
                + tr("Licence: {licence}").format(licence=esc(info.license or tr("not stated")))
                + "<br>"
                + tr("Last update: {date}").format(date=esc(info.modified or "?"))
                + "<br>"
                + tr("Publisher: {name}").format(name=esc(info.publisher or "?"))
                + "<br>"
                + (
                    tr("Geometry: {field}").format(field=esc(info.geo_field))
                    if info.geo_field
                    else tr("No geometry field.")
                )
                + f"<table><tr><th>{esc(tr('Field'))}</th><th>{esc(tr('Type'))}</th></tr>{rows}</table>"
            )
            self.preview.setHtml(body)
            self.load_button.setEnabled(True)
            self.status.setText(
                tr("Press Load to add all {n} records as a layer.").format(n=info.records_count or "")
            )
        else:
            body = (
                f"<b>{esc(info.title)}</b><br>"
                + tr("Licence: {licence}").format(licence=esc(info.license or tr("not stated")))
                + "<br>"
                + tr("Last update: {date}").format(date=esc(info.last_modified or "?"))
                + "<br>"
                + tr("Publisher: {name}").format(name=esc(info.organization or "?"))
            )
            self.preview.setHtml(body)
            self.resources.clear()
            for i, r in enumerate(info.resources):
                item = QListWidgetItem(f"{r.title} [{r.format or '?'}]")
                item.setData(DATA_ROLE, i)
                item.setToolTip(r.url)
                self.resources.addItem(item)
            if info.resources:
                self.resources.setCurrentRow(0)
            self.load_button.setEnabled(bool(info.resources))
            self.status.setText(
                tr(
                    "Pick a resource (GeoJSON, CSV with coordinates, zipped shapefile, GeoPackage) and press Load."
                )
            )

    # -- load ------------------------------------------------------------------------------------
    def load_selected(self) -> None:
        info = self.current_info
        choice = self.current_portal()
        if info is None or choice is None:
            self.status.setText(tr("Select a dataset first."))
            return
        if choice.kind == "datagouv":
            row = self.resources.currentRow()
            if row < 0:
                self.status.setText(tr("Select a resource to load."))
                return
            self.load_datagouv_resource(choice.url, info, info.resources[row])
            return
        where = self.where_edit.text().strip() or None
        bbox = None
        if self.extent_check.isChecked():
            bbox = odl.canvas_bbox_wgs84(self.iface.mapCanvas())
            if bbox is None:
                self.status.setText(tr("The map extent is empty or covers the whole world: zoom in first."))
                return
        self.load_ods(choice.url, info.id, where, bbox, info.title)

    def load_ods(
        self, portal_url: str, dataset_id: str, where=None, bbox=None, title: str = "", style=None
    ) -> None:
        """Export all records of ``dataset_id`` to the cache in a task, then add the layer."""

        def work(progress, is_canceled):
            return odl.fetch_ods_dataset(portal_url, dataset_id, where, bbox, cancel=is_canceled)

        self._run(
            tr("IdF HR: load open data"),
            work,
            lambda outcome: self._add_outcome(outcome, style),
            tr("Loading every record of {title}…").format(title=title or dataset_id),
        )

    def load_datagouv_resource(self, base_url: str, dataset, resource) -> None:
        def work(progress, is_canceled):
            return odl.fetch_datagouv_resource(
                base_url,
                resource,
                title=f"{dataset.title} — {resource.title}",
                license=dataset.license,
                cancel=is_canceled,
            )

        self._run(
            tr("IdF HR: load data.gouv.fr resource"),
            work,
            self._add_outcome,
            tr("Downloading {title}…").format(title=resource.title),
        )

    def _add_outcome(self, outcome, style=None):
        publisher = (outcome.extra or {}).get("publisher", "")
        layer = odl.cached_layer(outcome.entry, show_age=outcome.from_cache, publisher=publisher)
        if style is not None:
            odl.apply_style_hint(layer, style)
        add_on_top(layer)
        self.added_layers.append(layer.id())
        msg = tr("{title}: {n} features added.").format(title=layer.name(), n=layer.featureCount())
        self.status.setText((outcome.note + " " + msg) if outcome.note else msg)
        self.refresh_cached()
        return layer

    # -- themes -----------------------------------------------------------------------------------
    def load_theme(self, key: str | None = None) -> None:
        key = key if isinstance(key, str) and key else self.theme_combo.currentData()
        from ..core.opendata.ods import OdsPortal
        from ..core.opendata.themes import resolve_theme

        portal_url = odl.resolve_portal_url("mgp")
        overrides = odl.theme_overrides()

        def work(progress, is_canceled):
            if odl.offline():
                return odl.cached_theme(key, portal_url, overrides)
            try:
                res = resolve_theme(key, OdsPortal(portal_url), overrides)
            except IdfHrError as exc:
                if not odl.unreachable(exc):
                    raise
                return odl.cached_theme(key, portal_url, overrides, exc)  # what the cache holds
            outcomes = []
            for i, ds in enumerate(res.datasets):
                outcomes.append(odl.fetch_ods_dataset(portal_url, ds.id, cancel=is_canceled))
                progress((i + 1) / len(res.datasets))
            return res, outcomes

        def done(result) -> None:
            res, outcomes = result
            names = []
            for outcome in outcomes:
                layer = self._add_outcome(outcome, res.theme.style)
                names.append(layer.name())
            notes = [tr("Loaded: {names}.").format(names=", ".join(names))]
            notes += list(dict.fromkeys(o.note for o in outcomes if o.note))  # offline: cached copies
            if res.renamed:
                notes.append(
                    tr("Renamed on the portal: {pairs} (set the new ids in the settings).").format(
                        pairs=", ".join(f"{a} → {b}" for a, b in res.renamed.items())
                    )
                )
            if res.missing and not res.datasets:  # offline: resolved from the cache alone
                notes.append(
                    tr("Not in the local cache: {ids} (load the theme again once online).").format(
                        ids=", ".join(res.missing)
                    )
                )
            elif res.missing:
                notes.append(tr("Not found: {ids}.").format(ids=", ".join(res.missing)))
            self.status.setText(" ".join(notes))

        self._run(
            tr("IdF HR: load theme"),
            work,
            done,
            tr("Loading the theme {name}…").format(name=THEMES[key].label(user_locale())),
        )

    # -- cache ------------------------------------------------------------------------------------
    def refresh_cached(self, text: str = "") -> None:
        """List the cached datasets (those matching ``text`` when given)."""
        self.cached_list.clear()
        for entry in DatasetCache().search(text if isinstance(text, str) else ""):
            item = QListWidgetItem(
                tr("{title} — {age} ({n} features)").format(
                    title=entry.title or entry.dataset_id, age=entry.age_text, n=entry.feature_count
                )
            )
            item.setData(DATA_ROLE, entry.key)
            item.setToolTip(entry.source_url)
            self.cached_list.addItem(item)

    def load_cached_selected(self) -> None:
        item = self.cached_list.currentItem()
        if item is None:
            self.status.setText(tr("Select a cached dataset first."))
            return
        entry = DatasetCache().get(item.data(DATA_ROLE))
        if entry is None:
            self.status.setText(
                tr("This cache entry is gone or damaged; load the dataset again when online.")
            )
            self.refresh_cached()
            return
        layer = odl.cached_layer(entry, show_age=True)
        add_on_top(layer)
        self.added_layers.append(layer.id())
        self.status.setText(
            tr("{title} loaded from the cache ({age}).").format(title=entry.title, age=entry.age_text)
        )

    # -- commune / EPT zoom -----------------------------------------------------------------------
    def load_places(self, then=None) -> None:
        """Load the MGP boundaries (settings file, or the API through the cache) in a task."""
        if self.places_task is not None:
            return

        def work(progress, is_canceled):
            return odl.load_boundaries(cancel=is_canceled)

        def done(b) -> None:
            self.places_task = None
            self.boundaries = b
            self.place_bar.set_names(
                [c.nom for c in b.communes] + [e.nom for e in b.epts] + [e.id for e in b.epts]
            )
            if then is not None:
                then()

        def failed(message: str) -> None:
            self.places_task = None
            self.status.setText(message)

        self.places_task = tasks.IdfHrTask(
            tr("IdF HR: communes and EPT"), work, on_done=done, on_error=failed
        )
        tasks.start(self.places_task)

    def zoom_to_place(self) -> None:
        text = self.place_bar.edit.text().strip()
        if not text:
            self.status.setText(tr("Type a commune or EPT name."))
            return
        if self.boundaries is None:
            self.status.setText(tr("Loading the communes and EPT…"))
            self.load_places(then=self.zoom_to_place)
            return
        try:
            item = self.boundaries.find(text)
            odl.zoom_canvas(self.iface.mapCanvas(), self.boundaries.bbox(text, epsg=4326))
            if self.place_bar.outline_check.isChecked():
                layer = odl.boundary_layer(self.boundaries, text)
                add_on_top(layer)
                self.added_layers.append(layer.id())
        except IdfHrError as exc:
            self.status.setText(str(exc))
            return
        note = getattr(self.boundaries, "note", "")  # offline: the bundled boundaries were used
        self.status.setText(
            " ".join([tr("Zoomed to {name}.").format(name=item.nom)] + ([note] if note else []))
        )
