"""``idfhr:publishresult`` — publish a detection, change or zone-statistics layer for the partners:
a STAC item in a results catalog folder and/or the features in a shared PostGIS store."""

from __future__ import annotations

from qgis.core import (
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterAuthConfig,
    QgsProcessingParameterFile,
    QgsProcessingParameterProviderConnection,
    QgsProcessingParameterString,
    QgsProcessingParameterVectorLayer,
)

from .base import IdfHrAlgorithm


class PublishResultAlgorithm(IdfHrAlgorithm):
    NAME = "publishresult"
    GROUP_ID = "analysis"

    INPUT = "INPUT"
    PARTNER = "PARTNER"
    CATALOG = "CATALOG"
    CONNECTION = "CONNECTION"
    SCHEMA = "SCHEMA"
    REPORT = "REPORT"
    MODEL_ITEM = "MODEL_ITEM"
    STAC_API = "STAC_API"
    COLLECTION = "COLLECTION"
    ASSETS_URL = "ASSETS_URL"
    AUTHCFG = "AUTHCFG"
    API_ITEM = "API_ITEM"
    ITEM = "ITEM"
    RUN_ID = "RUN_ID"
    ROWS = "ROWS"

    def displayName(self) -> str:  # noqa: N802
        return self.tr("Publish a result for the partners (STAC, PostGIS)")

    def group(self) -> str:
        return self.tr("Analysis")

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(
            "Publishes a detection, change or zone-statistics layer (GeoPackage) with its provenance: "
            "a STAC item (analysed area, imagery vintage, model and its sha256, run cost, counts per "
            "class, partner; the objects as a GeoPackage and the PDF report as assets) into a results "
            "catalog folder, and/or the features into a PostGIS store shared by the partners (tables "
            "idfhr_results and idfhr_runs), through a PostgreSQL connection saved in QGIS and its "
            "authentication configuration. Publishing the same run again replaces it; another "
            "partner's results are never touched. Give a catalog folder, a connection, or both. "
            "A STAC API with the Transactions extension can also receive the item (its assets stay in "
            "the catalog folder, served at the assets URL); its login comes from an authentication "
            "configuration."
        )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        self.addParameter(
            QgsProcessingParameterVectorLayer(self.INPUT, self.tr("Detection, change or statistics layer"))
        )
        self.addParameter(
            QgsProcessingParameterString(self.PARTNER, self.tr("Partner (your organisation, e.g. Vincennes)"))
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.CATALOG,
                self.tr("Results catalog folder (STAC; created when absent)"),
                behavior=QgsProcessingParameterFile.Behavior.Folder,
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterProviderConnection(
                self.CONNECTION,
                self.tr("Shared PostGIS database (saved connection)"),
                "postgres",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(self.SCHEMA, self.tr("Database schema"), defaultValue="public")
        )
        self.addParameter(
            QgsProcessingParameterFile(
                self.REPORT, self.tr("PDF report of the run"), extension="pdf", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.MODEL_ITEM, self.tr("Model's STAC MLM item (URL)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.STAC_API,
                self.tr("STAC API with transactions (URL; needs the catalog folder)"),
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.COLLECTION, self.tr("STAC API collection"), defaultValue="idfhr-results", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.ASSETS_URL, self.tr("URL where the catalog folder is served (assets)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterAuthConfig(self.AUTHCFG, self.tr("STAC API authentication"), optional=True)
        )
        self.addOutput(QgsProcessingOutputString(self.ITEM, self.tr("STAC item")))
        self.addOutput(QgsProcessingOutputString(self.API_ITEM, self.tr("STAC API item (URL)")))
        self.addOutput(QgsProcessingOutputString(self.RUN_ID, self.tr("Run id")))
        self.addOutput(QgsProcessingOutputNumber(self.ROWS, self.tr("Features written to PostGIS")))

    def prepareAlgorithm(self, parameters, context, feedback) -> bool:  # noqa: N802
        from ..core.errors import UserInputError
        from ..gis.analysis_layers import gpkg_source
        from ..gis.shared_results import connection_dsn

        layer = self.parameterAsVectorLayer(parameters, self.INPUT, context)
        if layer is None:
            raise self.fail(UserInputError(self.tr("Choose the layer to publish.")))
        try:
            self._gpkg, self._layer = gpkg_source(layer)
            conn = self.parameterAsConnectionName(parameters, self.CONNECTION, context)
            # main thread: the authentication manager may ask for its master password
            self._dsn = connection_dsn(conn) if conn else None
        except Exception as exc:
            raise self.fail(exc) from exc
        self._partner = self.parameterAsString(parameters, self.PARTNER, context)
        self._catalog = self.parameterAsString(parameters, self.CATALOG, context).strip() or None
        self._schema = self.parameterAsString(parameters, self.SCHEMA, context).strip() or "public"
        self._report = self.parameterAsFile(parameters, self.REPORT, context).strip() or None
        self._model_item = self.parameterAsString(parameters, self.MODEL_ITEM, context).strip()
        self._api = self.parameterAsString(parameters, self.STAC_API, context).strip()
        self._collection = self.parameterAsString(parameters, self.COLLECTION, context).strip()
        self._assets_url = self.parameterAsString(parameters, self.ASSETS_URL, context).strip()
        self._authcfg = self.parameterAsString(parameters, self.AUTHCFG, context).strip()
        return True

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        from ..core.sharing import DEFAULT_COLLECTION, publish_result, split_api_url
        from ..gis.network import qgis_client

        try:
            api, collection = split_api_url(self._api, self._collection) if self._api else ("", "")
            out = publish_result(
                self._gpkg,
                self._partner,
                layer=self._layer,
                catalog_dir=self._catalog,
                dsn=self._dsn,
                schema=self._schema,
                report_pdf=self._report,
                model_item=self._model_item,
                cancel=self.cancel_check(feedback),
                api_url=api,
                collection=collection or DEFAULT_COLLECTION,
                assets_url=self._assets_url,
                client=qgis_client(self._authcfg) if api else None,
            )
        except Exception as exc:
            raise self.fail(exc) from exc
        feedback.pushInfo(out.summary())
        return {
            self.ITEM: str(out.item or ""),
            self.API_ITEM: out.api_item,
            self.RUN_ID: out.run.run_id,
            self.ROWS: out.rows if out.rows is not None else 0,
        }
