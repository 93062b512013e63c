"""``idfhr:catalogsearch`` — search a catalog source, output the footprints of the results."""

from __future__ import annotations

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeatureSink,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from ..core.catalog.model import SOURCE_KINDS, SearchQuery, SourceConfig
from ..gis.layers import footprint_feature, footprint_fields
from .base import IdfHrAlgorithm

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


def resolve_source(source_id: str, url: str, kind: str) -> SourceConfig:
    """A configured source by id (or name), or an ad-hoc one from a URL and kind."""
    from ..gis.settings import Settings

    if url:
        return SourceConfig(id="adhoc", name=url, kind=kind, url=url)
    for cfg in Settings.sources():
        if source_id in (cfg.id, cfg.name):
            return cfg
    known = ", ".join(c.id for c in Settings.sources())
    raise QgsProcessingException(
        IdfHrAlgorithm()
        .tr("Unknown catalog source “{source}”. Known sources: {known}.")
        .format(source=source_id, known=known)
    )


class CatalogSearchAlgorithm(IdfHrAlgorithm):
    NAME = "catalogsearch"
    GROUP_ID = "imagery"

    SOURCE = "SOURCE"
    URL = "URL"
    KIND = "KIND"
    EXTENT = "EXTENT"
    START = "START"
    END = "END"
    COLLECTIONS = "COLLECTIONS"
    MAX_GSD = "MAX_GSD"
    LIMIT = "LIMIT"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Search imagery catalog")

    def group(self) -> str:
        return self.tr("Imagery")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Searches a catalog source (STAC API, static STAC catalog, WMTS service or the demo "
            "region) by extent, date range, collections and maximum ground sample distance, and "
            "outputs one footprint polygon per result with its item id, date, GSD, collection and "
            "asset addresses. SOURCE is the id of a source configured in the IdF HR settings "
            "(e.g. “demo”, “ign-geopf”); or give a URL and its kind."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterString(self.SOURCE, self.tr("Source id"), defaultValue="demo")
        )
        self.addParameter(
            QgsProcessingParameterString(self.URL, self.tr("Or: catalog URL"), optional=True, defaultValue="")
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                self.KIND, self.tr("Kind of the URL"), options=list(SOURCE_KINDS[:3]), defaultValue=0
            )
        )
        self.addParameter(QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent"), optional=True))
        self.addParameter(
            QgsProcessingParameterString(self.START, self.tr("From date (YYYY-MM-DD)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterString(self.END, self.tr("To date (YYYY-MM-DD)"), optional=True)
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.COLLECTIONS, self.tr("Collections (comma-separated)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.MAX_GSD,
                self.tr("Maximum ground sample distance (m)"),
                type=QgsProcessingParameterNumber.Type.Double,
                optional=True,
                minValue=0.0,
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                self.LIMIT,
                self.tr("Maximum number of results"),
                defaultValue=500,
                minValue=1,
                maxValue=100000,
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSink(
                self.OUTPUT, self.tr("Catalog footprints"), QgsProcessing.SourceType.TypeVectorPolygon
            )
        )

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        kind = SOURCE_KINDS[self.parameterAsEnum(parameters, self.KIND, context)]
        self._config = resolve_source(
            self.parameterAsString(parameters, self.SOURCE, context).strip(),
            self.parameterAsString(parameters, self.URL, context).strip(),
            kind,
        )
        bbox = None
        if parameters.get(self.EXTENT):
            rect = self.parameterAsExtent(parameters, self.EXTENT, context, WGS84)
            if not rect.isNull() and not rect.isEmpty():
                bbox = (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())
        collections = [
            c.strip()
            for c in self.parameterAsString(parameters, self.COLLECTIONS, context).split(",")
            if c.strip()
        ]
        max_gsd = parameters.get(self.MAX_GSD)
        self._query = SearchQuery(
            bbox=bbox,
            datetime_start=self.parameterAsString(parameters, self.START, context).strip() or None,
            datetime_end=self.parameterAsString(parameters, self.END, context).strip() or None,
            collections=collections,
            max_gsd=self.parameterAsDouble(parameters, self.MAX_GSD, context)
            if max_gsd not in (None, "")
            else None,
            limit=self.parameterAsInt(parameters, self.LIMIT, context),
        )
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..gis.network import source_for

        fields = footprint_fields()
        sink, dest_id = self.parameterAsSink(
            parameters, self.OUTPUT, context, fields, QgsWkbTypes.Type.Polygon, WGS84
        )
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        from ..core.catalog.sources import run_search

        count = 0

        def add(item) -> None:
            nonlocal count
            sink.addFeature(footprint_feature(item, fields), QgsFeatureSink.Flag.FastInsert)
            count += 1
            feedback.setProgress(min(99.0, 100.0 * count / max(1, self._query.limit)))

        try:
            source = source_for(self._config)
            feedback.pushInfo(self.tr("Searching {name}…").format(name=self._config.name))
            outcome = run_search(source, self._query, cancel=self.cancel_check(feedback), on_item=add)
        except Exception as exc:
            raise self.fail(exc) from exc
        for warning in outcome.warnings:
            feedback.pushWarning(warning)
        feedback.pushInfo(self.tr("{n} results.").format(n=count))
        return {self.OUTPUT: dest_id, "COUNT": count, "TRUNCATED": outcome.truncated}
