"""Share results between partners (Qt-free): STAC items in a results catalog, a shared PostGIS store.

:func:`publish_result` publishes a detection, change or zone-statistics GeoPackage layer with its
provenance (:mod:`.stac` and/or :mod:`.postgis`); :mod:`.browse` lists and filters what partners
published; :func:`.postgis.load_features` / :func:`.postgis.features_query` load a run back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import UserInputError
from ..i18n import tr
from .browse import ResultFilter, SharedRun, filter_runs, run_from_item, runs_from_catalog, runs_from_postgis
from .postgis import features_query, load_features, publish_postgis, run_row
from .source import ResultRun, check_partner, read_result_layer
from .stac import check_catalog_folder, publish_stac, result_item

__all__ = [
    "PublishOutcome",
    "ResultFilter",
    "ResultRun",
    "SharedRun",
    "check_partner",
    "features_query",
    "filter_runs",
    "load_features",
    "publish_postgis",
    "publish_result",
    "publish_stac",
    "read_result_layer",
    "result_item",
    "run_from_item",
    "run_row",
    "runs_from_catalog",
    "runs_from_postgis",
]


@dataclass
class PublishOutcome:
    run: ResultRun
    item: Optional[Path] = None  # the STAC item written
    rows: Optional[int] = None  # features written to PostGIS

    def summary(self) -> str:
        parts = []
        if self.item is not None:
            parts.append(tr("STAC item {path}").format(path=self.item))
        if self.rows is not None:
            parts.append(tr("{n} features in PostGIS").format(n=self.rows))
        return tr("Run {run} ({kind}, layer {layer}) published: {what}.").format(
            run=self.run.run_id, kind=self.run.kind, layer=self.run.layer, what="; ".join(parts)
        )


def publish_result(
    gpkg: str | os.PathLike,
    partner: str,
    *,
    layer: Optional[str] = None,
    catalog_dir: str | os.PathLike | None = None,
    dsn: Optional[str] = None,
    schema: str = "public",
    report_pdf: str | os.PathLike | None = None,
    model_item: str = "",
    cancel: Optional[Callable[[], bool]] = None,
) -> PublishOutcome:
    """Publish a result layer into a results catalog folder and/or a PostGIS store.

    Everything is checked before anything is written; PostGIS (one transaction) goes first, then
    the catalog, each all-or-nothing.
    """
    if not catalog_dir and not dsn:
        raise UserInputError(
            tr("Say where to publish: a results catalog folder, a PostGIS connection, or both.")
        )
    partner = check_partner(partner)
    run = read_result_layer(gpkg, layer, model_item=model_item)
    if catalog_dir:
        result_item(run, partner, report=bool(report_pdf))  # refuses a wrong analysed area before any write
        check_catalog_folder(catalog_dir)
        if report_pdf and not Path(report_pdf).is_file():
            raise UserInputError(
                tr("The report '{path}' does not exist; give the PDF of this run or no report.").format(
                    path=report_pdf
                )
            )
    out = PublishOutcome(run)
    if dsn:
        out.rows = publish_postgis(run, dsn, partner, schema=schema, cancel=cancel)
    if catalog_dir:
        try:
            out.item = publish_stac(run, catalog_dir, partner, report_pdf=report_pdf)
        except UserInputError as exc:
            if out.rows is None:
                raise
            raise UserInputError(
                tr(
                    "The run {run} was published in PostGIS ({n} features) but not in the catalog: {err} "
                    "Publish it again once the folder is fixed (the PostGIS rows are then replaced, not doubled)."
                ).format(run=run.run_id, n=out.rows, err=exc)
            ) from exc
    return out
