"""A source's authcfg (QGIS authentication manager) is applied to its requests; secrets stay out of settings."""

from __future__ import annotations

import base64
import json

import pytest
from qgis.core import QgsApplication, QgsAuthMethodConfig

from idf_hr_plugin.core.catalog.model import SearchQuery, SourceConfig
from idf_hr_plugin.core.errors import NetworkError
from idf_hr_plugin.gis.network import source_for
from tests.servers import Reply

CATALOG = {
    "type": "Catalog",
    "stac_version": "1.0.0",
    "id": "private",
    "description": "private THR",
    "links": [{"rel": "item", "href": "./item.json", "type": "application/geo+json"}],
}
ITEM = {
    "type": "Feature",
    "stac_version": "1.0.0",
    "id": "tile-1",
    "bbox": [2.48, 48.8, 2.49, 48.81],
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[2.48, 48.8], [2.49, 48.8], [2.49, 48.81], [2.48, 48.81], [2.48, 48.8]]],
    },
    "properties": {"datetime": "2026-06-15T11:00:00Z", "gsd": 0.05},
    "assets": {
        "image": {
            "href": "./tile-1.tif",
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
        }
    },
    "links": [],
}


@pytest.fixture
def basic_authcfg(qgis_app):
    manager = QgsApplication.authManager()
    manager.setMasterPassword("idf-hr-test-master", True)
    cfg = QgsAuthMethodConfig("Basic")
    cfg.setName("idfhr-test")
    cfg.setConfig("username", "technicien")
    cfg.setConfig("password", "s3cret")
    assert manager.storeAuthenticationConfig(cfg)[0]
    yield cfg.id()
    manager.removeAuthenticationConfig(cfg.id())


def test_authcfg_reaches_the_server(loopback, basic_authcfg):
    srv = loopback()
    expected = "Basic " + base64.b64encode(b"technicien:s3cret").decode()

    def guarded(body):
        def handler(req):
            if req.headers.get("authorization") != expected:
                return Reply(401, "auth required", {"WWW-Authenticate": 'Basic realm="thr"'})
            return Reply(200, json.dumps(body), content_type="application/json")

        return handler

    srv.route(r"/catalog\.json", guarded(CATALOG))
    srv.route(r"/item\.json", guarded(ITEM))
    with_auth = SourceConfig(
        id="p", name="Private", kind="stac-static", url=srv.url + "/catalog.json", authcfg=basic_authcfg
    )
    items = list(source_for(with_auth).search(SearchQuery()))
    assert [i.id for i in items] == ["tile-1"]
    assert "s3cret" not in json.dumps(with_auth.to_dict())  # only the authcfg id is stored in settings

    without = SourceConfig(id="p", name="Private", kind="stac-static", url=srv.url + "/catalog.json")
    with pytest.raises(NetworkError) as err:
        list(source_for(without).search(SearchQuery()))
    assert err.value.status == 401 and "authentication" in str(err.value)
