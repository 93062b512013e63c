"""Share results between partners (Qt-free): STAC items in a results catalog (folder, STAC API), a
shared PostGIS store.

:func:`publish_result` publishes a detection, change or zone-statistics GeoPackage layer with its
provenance (:mod:`.stac`, :mod:`.stac_api` and/or :mod:`.postgis`); :mod:`.browse` lists and filters
what partners published; :func:`.postgis.load_features` / :func:`.postgis.features_query` load a run back.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..errors import NetworkError, UserInputError
from ..i18n import tr
from .browse import (
    ResultFilter,
    SharedRun,
    filter_runs,
    run_from_item,
    runs_from_api,
    runs_from_catalog,
    runs_from_postgis,
)
from .postgis import features_query, load_features, publish_postgis, run_row
from .source import ResultRun, check_partner, read_result_layer
from .stac import check_catalog_folder, publish_stac, result_item
from .stac_api import (
    DEFAULT_COLLECTION,
    api_item,
    check_collection_id,
    check_transactions,
    publish_api,
    split_api_url,
)

__all__ = [
    "DEFAULT_COLLECTION",
    "PublishOutcome",
    "ResultFilter",
    "ResultRun",
    "SharedRun",
    "check_partner",
    "features_query",
    "filter_runs",
    "load_features",
    "publish_api",
    "publish_postgis",
    "publish_result",
    "publish_stac",
    "read_result_layer",
    "result_item",
    "run_from_item",
    "run_row",
    "split_api_url",
    "runs_from_api",
    "runs_from_catalog",
    "runs_from_postgis",
]


@dataclass
class PublishOutcome:
    run: ResultRun
    item: Optional[Path] = None  # the STAC item written
    rows: Optional[int] = None  # features written to PostGIS
    api_item: str = ""  # URL of the item in the STAC API

    def summary(self) -> str:
        parts = []
        if self.item is not None:
            parts.append(tr("STAC item {path}").format(path=self.item))
        if self.rows is not None:
            parts.append(tr("{n} features in PostGIS").format(n=self.rows))
        if self.api_item:
            parts.append(tr("STAC API item {url}").format(url=self.api_item))
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
    api_url: str = "",
    collection: str = DEFAULT_COLLECTION,
    assets_url: str = "",
    client=None,
) -> PublishOutcome:
    """Publish a result layer into a results catalog folder, a STAC API and/or a PostGIS store.

    A STAC API (Transactions extension) receives the item only; its assets stay in ``catalog_dir``,
    referenced under ``assets_url`` (the http(s) URL where that folder is served).
    ``client`` (:class:`..http.HttpClient`) carries the API's authentication.
    Everything is checked before anything is written; PostGIS (one transaction) goes first, then
    the catalog folder, then the API, each all-or-nothing.
    """
    if api_url and not catalog_dir:
        raise UserInputError(
            tr(
                "Publishing into a STAC API also needs a results catalog folder: the API keeps the "
                "item, the folder keeps its GeoPackage and report. Give both."
            )
        )
    if api_url and not str(assets_url or "").lower().startswith(("http://", "https://")):
        raise UserInputError(
            tr(
                "Publishing into a STAC API also needs the http(s) URL where the results catalog folder "
                "is served (assets URL): the API's readers fetch the GeoPackage from there, and a remote "
                "catalog may not point at files on their computer. Give it."
            )
        )
    if not catalog_dir and not dsn:
        raise UserInputError(
            tr("Say where to publish: a results catalog folder, a PostGIS connection, or both.")
        )
    partner = check_partner(partner)
    run = read_result_layer(gpkg, layer, model_item=model_item)
    if api_url:
        collection = check_collection_id(collection)
        check_transactions(api_url, client)
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
    if api_url:
        import json

        item = json.loads(Path(out.item).read_text("utf-8"))
        try:
            out.api_item = publish_api(
                api_item(item, Path(out.item).parent, collection, assets_url), api_url, collection, client
            )
        except (UserInputError, NetworkError) as exc:
            raise UserInputError(
                tr(
                    "The run {run} was published in the catalog folder{pg} but not in the STAC API: {err} "
                    "Publish it again once the API answers (the item is then replaced, not doubled)."
                ).format(
                    run=run.run_id,
                    pg=tr(" and in PostGIS") if out.rows is not None else "",
                    err=exc,
                )
                + (
                    " "
                    + tr(
                        "The API refused the credentials: in QGIS choose its authentication configuration; "
                        "on the command line set IDFHR_STAC_API_TOKEN to your token."
                    )
                    if getattr(exc, "status", None) in (401, 403)
                    else ""
                )
            ) from exc
    return out
