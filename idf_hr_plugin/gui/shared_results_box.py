"""The "Shared results" section of the Catalog tab: list what partners published (a results catalog
folder/URL, a STAC API, or a PostGIS store through a saved connection), filter it, add a run to the map."""

from __future__ import annotations

from qgis.gui import QgsAuthConfigSelect, QgsCollapsibleGroupBox
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
)

from ..core.errors import IdfHrError
from ..gis import tasks
from ..gis.i18n import tr
from .task_runner import no_widening

RUN_ROLE = Qt.ItemDataRole.UserRole + 2
KIND_CATALOG, KIND_POSTGIS, KIND_API = "catalog", "postgis", "stac-api"


class SharedResultsBox(QgsCollapsibleGroupBox):
    """Collapsed by default; extent and dates come from the Catalog tab (``tab.search_bbox()``…)."""

    def __init__(self, tab, parent=None) -> None:
        super().__init__(tr("Shared results (partners)"), parent)
        self.tab = tab
        self.runs: list = []
        self.task = None
        self._listed_from = ("", "")
        self.setCollapsed(True)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.kind = QComboBox()
        self.kind.addItem(tr("Results catalog (folder or URL)"), KIND_CATALOG)
        self.kind.addItem(tr("PostGIS (saved connection)"), KIND_POSTGIS)
        self.kind.addItem(tr("STAC API (URL of the API or of its collection)"), KIND_API)
        no_widening(self.kind)
        self.location = QLineEdit()
        self.location.setPlaceholderText(tr("Folder or catalog.json URL, e.g. a shared drive"))
        self.auth = QgsAuthConfigSelect(self)
        self.auth.setToolTip(tr("Login of the STAC API (QGIS authentication manager); none if it is open."))
        self.connection = QComboBox()
        no_widening(self.connection)
        self.model = QLineEdit()
        self.model.setPlaceholderText(tr("any"))
        self.class_name = QLineEdit()
        self.class_name.setPlaceholderText(tr("any, e.g. pool"))
        self.partner = QLineEdit()
        self.partner.setPlaceholderText(tr("any"))
        form.addRow(tr("Source"), self.kind)
        form.addRow(tr("Catalog"), self.location)
        form.addRow(tr("Connection"), self.connection)
        form.addRow(tr("Authentication"), self.auth)
        form.addRow(tr("Model"), self.model)
        form.addRow(tr("Class"), self.class_name)
        form.addRow(tr("Partner"), self.partner)
        self.list_button = QPushButton(tr("List shared results"))
        self.list_button.setToolTip(tr("Runs published by the partners, within the extent and dates above."))
        self.results = QListWidget()
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.results.setMinimumHeight(100)
        self.add_button = QPushButton(tr("Add to map"))
        self.add_button.setToolTip(
            tr("A catalog run opens from its GeoPackage; a PostGIS run opens limited to the extent above.")
        )
        self.add_button.setEnabled(False)
        self.publish_button = QPushButton(tr("Publish a result…"))
        self.publish_button.setToolTip(
            tr("Share the selected detection, change or statistics layer with the partners (STAC, PostGIS).")
        )
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addLayout(form)
        layout.addWidget(self.list_button)
        layout.addWidget(self.results)
        layout.addWidget(self.add_button)
        layout.addWidget(self.publish_button)
        layout.addWidget(self.status)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.list_button.clicked.connect(self.list_runs)
        self.add_button.clicked.connect(self.add_selected_to_map)
        self.publish_button.clicked.connect(self.publish_dialog)
        self.results.itemSelectionChanged.connect(
            lambda: self.add_button.setEnabled(bool(self.results.selectedItems()))
        )
        self.results.itemDoubleClicked.connect(lambda _i: self.add_selected_to_map())
        self._kind_changed()

    def _kind_changed(self) -> None:
        postgis = self.kind.currentData() == KIND_POSTGIS
        if postgis:
            from ..gis.shared_results import postgres_connections

            current = self.connection.currentText()
            self.connection.clear()
            self.connection.addItems(postgres_connections())
            if current:
                self.connection.setCurrentText(current)
        self.location.setEnabled(not postgis)
        self.connection.setEnabled(postgis)
        self.auth.setEnabled(self.kind.currentData() == KIND_API)

    def current_filter(self):
        from ..core.sharing import ResultFilter

        start = end = ""
        if self.tab.use_dates.isChecked():
            start = self.tab.date_from.date().toString("yyyy-MM-dd")
            end = self.tab.date_to.date().toString("yyyy-MM-dd")
        return ResultFilter(
            bbox=self.tab.search_bbox(),
            start=start,
            end=end,
            model=self.model.text().strip(),
            class_name=self.class_name.text().strip(),
            partner=self.partner.text().strip(),
        )

    def list_runs(self) -> None:
        flt = self.current_filter()
        kind = self.kind.currentData()
        try:
            if kind == KIND_POSTGIS:
                from ..gis.shared_results import connection_dsn

                name = self.connection.currentText()
                if not name:
                    self.status.setText(
                        tr("Save a PostgreSQL connection in QGIS (Data Source Manager > PostgreSQL) first.")
                    )
                    return
                dsn = connection_dsn(name)  # main thread: the authentication manager may ask
                source = name
            else:
                source = self.location.text().strip()
                if not source:
                    self.status.setText(
                        tr("Give the STAC API URL.")
                        if kind == KIND_API
                        else tr("Give the results catalog folder or its catalog.json URL.")
                    )
                    return
            authcfg = self.auth.configId() if kind == KIND_API else ""
        except IdfHrError as exc:
            self.status.setText(str(exc))
            return

        def work(progress, is_canceled):
            from ..core.sharing import filter_runs, runs_from_catalog, runs_from_postgis

            if kind == KIND_POSTGIS:
                return runs_from_postgis(dsn, flt=flt), []
            warnings: list = []
            if kind == KIND_API:
                from ..core.sharing import runs_from_api, split_api_url
                from ..gis.network import qgis_client

                api, collection = split_api_url(source)
                runs = runs_from_api(
                    api, collection, client=qgis_client(authcfg), cancel=is_canceled, warnings=warnings
                )
                return filter_runs(runs, flt), warnings
            runs = runs_from_catalog(source, cancel=is_canceled, warnings=warnings)
            return filter_runs(runs, flt), warnings

        self._listed_from = (kind, source)
        self.list_button.setEnabled(False)
        self.status.setText(tr("Listing shared results…"))
        self.task = tasks.IdfHrTask(
            tr("IdF HR: shared results"), work, on_done=self._listed, on_error=self._failed
        )
        tasks.start(self.task)

    def _failed(self, message: str) -> None:
        self.task = None
        self.list_button.setEnabled(True)
        self.status.setText(message)

    def _listed(self, result) -> None:
        self.task = None
        self.list_button.setEnabled(True)
        runs, warnings = result
        self.runs = list(runs)
        self.results.clear()
        for i, run in enumerate(self.runs):
            row = QListWidgetItem(run.label())
            row.setData(RUN_ROLE, i)
            counts = ", ".join(f"{k}: {v}" for k, v in sorted(run.counts.items()))
            row.setToolTip("\n".join(t for t in (run.title or run.run_id, counts, run.missing) if t))
            self.results.addItem(row)
        if self.runs:
            self.status.setText(
                tr("{n} shared run(s). Select some, then Add to map.").format(n=len(self.runs))
            )
        else:
            self.status.setText(tr("No shared result matches: widen the extent, the dates or the filters."))
        if warnings:
            self.status.setText(self.status.text() + "\n" + "\n".join(warnings))

    def add_selected_to_map(self) -> list:
        from ..gis.shared_results import add_shared_run, extent_l93

        kind, source = self._listed_from
        bbox = None
        if kind == KIND_POSTGIS and self.tab.search_bbox() is not None:  # None: no spatial limit
            if self.tab.extent_drawn.isChecked() and self.tab.drawn_extent is not None:
                rect, crs = self.tab.drawn_extent, self.tab.drawn_crs
            else:
                canvas = self.tab.iface.mapCanvas()
                rect, crs = canvas.extent(), canvas.mapSettings().destinationCrs()
            if rect is not None and not rect.isEmpty() and crs is not None and crs.isValid():
                bbox = extent_l93(rect, crs)
        added, errors = [], []
        for w in self.results.selectedItems():
            run = self.runs[w.data(RUN_ROLE)]
            try:
                added.append(
                    add_shared_run(run, connection=source if kind == KIND_POSTGIS else "", bbox=bbox)
                )
            except IdfHrError as exc:
                errors.append(str(exc))
        if errors:
            self.status.setText("\n".join(errors))
        elif added:
            self.status.setText(tr("Added {n} layer(s) to the map.").format(n=len(added)))
        return added

    def publish_dialog(self) -> None:
        """The ``idfhr:publishresult`` dialog, on the active layer (and the chosen connection)."""
        import processing

        params = {}
        layer = self.tab.iface.activeLayer()
        if layer is not None:
            params["INPUT"] = layer.id()
        if self.kind.currentData() == KIND_POSTGIS and self.connection.currentText():
            params["CONNECTION"] = self.connection.currentText()
        elif self.kind.currentData() == KIND_API and self.location.text().strip():
            params["STAC_API"] = self.location.text().strip()
            if self.auth.configId():
                params["AUTHCFG"] = self.auth.configId()
        elif self.location.text().strip():
            params["CATALOG"] = self.location.text().strip()
        processing.execAlgorithmDialog("idfhr:publishresult", params)

    def shutdown(self) -> None:
        if self.task is not None:
            self.task.cancel()
