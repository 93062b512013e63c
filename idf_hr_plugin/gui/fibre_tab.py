"""Fibre (FttH) tab: ARCEP files → coverage per commune / EPT / MGP, graduated choropleth, quarters."""

from __future__ import annotations

import logging

from qgis.core import QgsProject
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QWidget,
)

from ..core.errors import IdfHrError
from ..core.offline_kit import BUNDLED_FTTH, bundled_info
from ..core.opendata import arcep
from ..core.opendata.tabular import find_column, missing_columns_message, read_table
from ..gis import opendata_layers as odl
from ..gis.i18n import num, tr
from ..gis.layers import add_on_top
from .task_runner import RunsTasks, TaskRunner, no_widening, scrolled_with_footer, task_controls

LOG = logging.getLogger("idf_hr.gui.fibre")
ARCEP_LICENCE = "Licence Ouverte / Etalab 2.0"
ARCEP_SOURCE = "ARCEP — Le marché du haut et très haut débit fixe (déploiements)"

# role → (label, which file) of the column mapping form; labels through role_label()
ROLES: tuple[tuple[str, str, str], ...] = (
    ("ftth_insee", "INSEE code", "ftth"),
    ("connectable", "connectable premises", "ftth"),
    ("quarter", 'quarter (or quarter columns like "T1 2018")', "ftth"),
    ("premises_insee", "INSEE code", "premises"),
    ("housing", "housing (Logements)", "premises"),
    ("businesses", "businesses (Établissements)", "premises"),
)


def role_label(role: str) -> str:
    """The column role's name in the UI language (literal ``tr()`` calls, so they reach the .ts)."""
    labels = {
        "ftth_insee": tr("INSEE code"),
        "connectable": tr("connectable premises"),
        "quarter": tr('quarter (or quarter columns like "T1 2018")'),
        "premises_insee": tr("INSEE code"),
        "housing": tr("housing (Logements)"),
        "businesses": tr("businesses (Établissements)"),
    }
    return labels[role]


CORE_ROLE = {"ftth_insee": "insee", "premises_insee": "insee"}


class FileRow(QWidget):
    """A line edit (path or URL) with a "Browse…" button."""

    def __init__(self, placeholder: str, file_filter: str, parent=None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.button = QPushButton(tr("Browse…"))
        self.filter = file_filter
        row.addWidget(self.edit, 1)
        row.addWidget(self.button)
        self.button.clicked.connect(self._browse)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, tr("Choose a file"), "", self.filter)
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text().strip()

    def setText(self, value: str) -> None:  # noqa: N802 (Qt style)
        self.edit.setText(value)


class FibreTab(QWidget, RunsTasks):
    """Load ARCEP FttH deployment files and map the coverage rate per commune and EPT."""

    def __init__(self, iface, parent=None) -> None:
        super().__init__(parent)
        self.iface = iface
        self.outcome: odl.FibreOutcome | None = None
        self.layers: dict[str, str] = {}  # level → layer id
        self._build()

    @staticmethod
    def tab_title() -> str:
        return tr("Fibre (FttH)")

    # -- layout ---------------------------------------------------------------------
    def _build(self) -> None:
        root, footer = scrolled_with_footer(self)
        tables = tr("Tables (*.csv *.xlsx *.txt);;All files (*)")
        files = QGroupBox(tr("ARCEP files (local file or URL)"))
        form = QFormLayout(files)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)  # paths get the whole width
        self.ftth_file = FileRow(tr("ftthCommunes_*.csv: connectable premises per quarter"), tables)
        self.premises_file = FileRow(tr("communes_*.csv: Logements, Établissements"), tables)
        self.boundaries_file = FileRow(
            tr("Optional: communes file (default: geo.api.gouv.fr; offline: bundled IGN boundaries)"),
            tr("Vector files (*.geojson *.json *.gpkg *.shp);;All files (*)"),
        )
        self.ipe_file = FileRow(tr("Optional: building-level file (IPE) with imb_etat"), tables)
        form.addRow(tr("FttH deployment"), self.ftth_file)
        form.addRow(tr("Premises"), self.premises_file)
        form.addRow(tr("Boundaries"), self.boundaries_file)
        form.addRow(tr("Buildings (IPE)"), self.ipe_file)
        ftth_info = bundled_info(BUNDLED_FTTH)
        self.bundled_label = QLabel(
            tr(
                "No file? Compute uses the ARCEP snapshot bundled with the plugin: {vintage}, {licence} "
                "({source})."
            ).format(
                vintage=ftth_info.get("vintage", "?"),
                licence=ftth_info.get("licence", ""),
                source=ftth_info.get("source_url", "ARCEP"),
            )
        )
        self.bundled_label.setWordWrap(True)
        form.addRow(self.bundled_label)

        mapping = QGroupBox(tr("Columns"))
        map_form = QFormLayout(mapping)
        # labels above their pickers, so the pickers get the dock's whole width (issue 9 item 5)
        map_form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        self.read_columns_button = QPushButton(tr("Read columns"))
        self.read_columns_button.setToolTip(
            tr("Read the headers of the files and match the columns by name; change any that is wrong.")
        )
        map_form.addRow(self.read_columns_button)
        self.column_combos: dict[str, QComboBox] = {}
        for role, _label, which in ROLES:
            combo = QComboBox()
            combo.setEditable(True)
            no_widening(combo)
            combo.setToolTip(tr("Leave empty to use the default names."))
            self.column_combos[role] = combo
            prefix = tr("FttH") if which == "ftth" else tr("Premises")
            label_widget = QLabel(tr("{file}: {column}").format(file=prefix, column=role_label(role)))
            label_widget.setWordWrap(True)
            map_form.addRow(label_widget, combo)
        self.missing_label = QLabel()
        self.missing_label.setWordWrap(True)
        self.missing_label.setStyleSheet("color: #b00020")
        map_form.addRow(self.missing_label)

        buttons, self.compute_button, self.cancel_button, self.progress = task_controls(
            tr("Compute coverage")
        )

        quarter_row = QHBoxLayout()
        self.quarter_combo = QComboBox()
        self.quarter_combo.setEnabled(False)
        no_widening(self.quarter_combo)
        self.mgp_label = QLabel()
        self.mgp_label.setWordWrap(True)
        quarter_row.addWidget(QLabel(tr("Quarter")))
        quarter_row.addWidget(self.quarter_combo, 1)

        self.status = QLabel(
            tr("Pick the ARCEP FttH file and the premises file (or none: bundled snapshot), then Compute.")
        )
        self.status.setWordWrap(True)

        root.addWidget(files)
        root.addWidget(mapping)
        root.addLayout(quarter_row)
        root.addWidget(self.mgp_label)
        root.addStretch(1)
        footer.addLayout(buttons)
        footer.addWidget(self.progress)
        footer.addWidget(self.status)

        self.compute_button.setObjectName("fibreComputeButton")  # targeted by the guided session
        self.read_columns_button.clicked.connect(self.read_columns)
        self.compute_button.clicked.connect(self.compute)
        self.runner = TaskRunner(
            self.progress,
            self.status,
            self.cancel_button,
            [self.compute_button, self.read_columns_button],
            on_failed=self._show_missing_columns,
        )
        self.quarter_combo.currentIndexChanged.connect(self._quarter_changed)

    # -- column mapping ----------------------------------------------------------------
    def aliases(self) -> dict[str, list[str]]:
        """Column names chosen in the form, as alias overrides for the core loaders."""
        out: dict[str, list[str]] = {}
        for role, combo in self.column_combos.items():
            value = combo.currentText().strip()
            if value:
                out.setdefault(CORE_ROLE.get(role, role), []).append(value)
        return out

    def read_columns(self) -> None:
        ftth_src, prem_src = self.ftth_file.text(), self.premises_file.text()
        al = {**arcep.DEFAULT_ALIASES}
        for k, v in odl.arcep_aliases().items():
            al[k] = tuple(v) + al.get(k, ())

        def header(src):
            path = odl.fetch_table(src, cancel=None)
            try:
                table = read_table(path, is_header=lambda cells: find_column(cells, al["insee"]) is not None)
            except IdfHrError:
                table = read_table(path)
            return path.name, table.header

        def work(progress, is_canceled):
            out = {}
            if ftth_src:
                out["ftth"] = header(ftth_src)
            if prem_src:
                out["premises"] = header(prem_src)
            return out, al

        self._run(tr("IdF HR: read columns"), work, self._columns_read, tr("Reading the headers…"))

    def _columns_read(self, result) -> None:
        headers, al = result
        messages = []
        for which, (name, header) in headers.items():
            wide = which == "ftth" and any(arcep.parse_quarter(h) for h in header)
            missing = {}
            for role, _label, file_kind in ROLES:
                if file_kind != which:
                    continue
                combo = self.column_combos[role]
                combo.clear()
                combo.addItem("")
                combo.addItems([h for h in header if h])
                core = CORE_ROLE.get(role, role)
                idx = find_column(header, al.get(core, ()))
                if idx is not None:
                    combo.setCurrentText(header[idx])
                elif not (wide and role in ("connectable", "quarter")):
                    missing[role_label(role)] = al.get(core, ())
            if missing:
                messages.append(missing_columns_message(name, missing, header))
        self.missing_label.setText("\n".join(messages))
        self.status.setText(
            tr("Columns matched by name; pick the right ones where a name is missing, then Compute.")
            if messages
            else tr("Every column was found. Press Compute.")
        )

    # -- compute --------------------------------------------------------------------------
    def compute(self) -> None:
        ftth_src, prem_src = self.ftth_file.text(), self.premises_file.text() or None
        bounds_src = self.boundaries_file.text() or None
        ipe_src = self.ipe_file.text() or None
        aliases = self.aliases()
        if not ftth_src and prem_src:
            self.status.setText(tr("Pick the ARCEP FttH deployment file that goes with the premises file."))
            return

        def work(progress, is_canceled):
            return odl.compute_fibre(
                ftth_src,
                prem_src,
                bounds_src,
                aliases=aliases,
                ipe_src=ipe_src,
                cancel=is_canceled,
                progress=progress,
            )

        self._run(tr("IdF HR: FttH coverage"), work, self._computed, tr("Computing the coverage…"))

    def _computed(self, outcome: odl.FibreOutcome) -> None:
        self.outcome = outcome
        project = QgsProject.instance()
        for lid in self.layers.values():
            if project.mapLayer(lid) is not None:
                project.removeMapLayer(lid)
        self.layers = {}
        names = {"commune": tr("FttH coverage by commune"), "ept": tr("FttH coverage by EPT")}
        for level in ("ept", "commune"):
            path = outcome.outputs.get(level)
            if path is None:
                continue
            layer = odl.file_layer(path, names[level], f"ftth_coverage_{level}")
            odl.style_coverage_layer(layer)
            abstract = tr("Share of premises connectable to FttH (fibre), per quarter.")
            licence, source = ARCEP_LICENCE, ARCEP_SOURCE
            if outcome.bundled_ftth:
                info = bundled_info(BUNDLED_FTTH)
                licence, source = info.get("licence", licence), info.get("source_url", source)
                abstract += " " + tr("Bundled ARCEP snapshot, {vintage}.").format(vintage=info.get("vintage"))
            odl.apply_metadata(
                layer, title=names[level], license=licence, source_url=source, abstract=abstract
            )
            add_on_top(layer, project)
            self.layers[level] = layer.id()
        if outcome.ipe is not None:
            layer = odl.file_layer(outcome.ipe.path, tr("FttH buildings (IPE)"), "ftth_buildings")
            odl.style_buildings_layer(layer)
            add_on_top(layer, project)
            self.layers["buildings"] = layer.id()
        self.quarter_combo.blockSignals(True)
        self.quarter_combo.clear()
        self.quarter_combo.addItem(tr("All quarters (Temporal Controller)"), "")
        for q in outcome.quarters:
            self.quarter_combo.addItem(q, q)
        self.quarter_combo.setEnabled(True)
        self.quarter_combo.blockSignals(False)
        self.quarter_combo.setCurrentIndex(self.quarter_combo.count() - 1)
        self._quarter_changed()
        self.status.setText(
            " ".join(
                [tr("{n} communes mapped.").format(n=len({r.code for r in outcome.result.communes}))]
                + outcome.messages()
            )
        )

    def layer(self, level: str = "commune"):
        lid = self.layers.get(level)
        return QgsProject.instance().mapLayer(lid) if lid else None

    def set_quarter(self, quarter: str | None) -> None:
        """Show one quarter (``None`` or ``""``: all quarters, for the Temporal Controller)."""
        idx = self.quarter_combo.findData(quarter or "")
        if idx < 0:
            raise IdfHrError(tr("No quarter {q} in the loaded data.").format(q=quarter))
        self.quarter_combo.setCurrentIndex(idx)

    def mgp_rate(self, quarter: str) -> arcep.CoverageRow | None:
        if self.outcome is None:
            return None
        return next((r for r in self.outcome.result.mgp if r.quarter == quarter), None)

    def _quarter_changed(self) -> None:
        quarter = self.quarter_combo.currentData()
        for level in ("commune", "ept"):
            layer = self.layer(level)
            if layer is not None:
                layer.setSubsetString(odl.quarter_filter(quarter))
                layer.triggerRepaint()
        canvas = self.iface.mapCanvas()
        if not quarter:
            layer = self.layer("commune")
            if layer is not None and odl.animate_quarters(canvas, layer):
                self.mgp_label.setText(
                    tr(
                        "Temporal Controller on: one quarter a frame. Press its Play button "
                        "(View › Panels › Temporal Controller) to animate the quarters."
                    )
                )
            else:
                self.mgp_label.setText(
                    tr(
                        "All quarters are drawn on top of each other: open View › Panels › Temporal "
                        "Controller and switch it to animation to see one quarter at a time."
                    )
                )
            return
        odl.stop_animation(canvas)
        row = self.mgp_rate(quarter)
        if row is None:
            self.mgp_label.setText("")
            return
        self.mgp_label.setText(
            tr("Métropole du Grand Paris, {q}: {pct} % of premises connectable ({num} of {den}).").format(
                q=quarter,
                pct=num(row.coverage_pct, 1),
                num=num(row.connectable),
                den=num(row.premises),
            )
        )

    # -- task plumbing ------------------------------------------------------------------------
    def _show_missing_columns(self, message: str) -> None:
        if "columns were not found" in message or "Columns present" in message:
            self.missing_label.setText(message)

    def shutdown(self) -> None:
        self.cancel()
