"""A published run as an item of a STAC API that supports the Transactions extension.

The API stores the item (JSON); its assets (the GeoPackage of the objects, the report) stay
in the results catalog folder written first (:func:`.stac.publish_stac`), referenced by
absolute hrefs under ``assets_url``, where that folder is served over HTTP (a remote catalog may
not point at local files: readers refuse such links). The item is created with ``POST /collections/{id}/items`` and replaced with
``PUT /collections/{id}/items/{item id}`` when the same run is published again (the id is the
partner and the run id); the collection is created (``POST /collections``) when absent.
Authentication is the client's business: QGIS's ``authcfg`` in QGIS, a token header in the CLI.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from ..errors import UserInputError
from ..http import HttpClient, default_client
from ..i18n import tr

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "idfhr-results"
# Transactions extension (STAC API) and its OGC API - Features Part 4 counterpart
TRANSACTION_MARKERS = ("/extensions/transaction", "ogcapi-features-4", "create-replace-delete")


def _base(api_url: str) -> str:
    url = str(api_url or "").strip().rstrip("/")
    if not url.lower().startswith(("http://", "https://")):
        raise UserInputError(
            tr("'{url}' is not the address of a STAC API; give its http(s):// URL.").format(url=api_url)
        )
    return url


def split_api_url(url: str, collection: str = "") -> tuple[str, str]:
    """``(API root, collection)`` from an API URL, or a collection URL (``…/collections/{id}``)."""
    from urllib.parse import unquote

    base = _base(url)
    head, sep, tail = base.partition("/collections/")
    if sep and tail and "/" not in tail:
        return head, collection or unquote(tail)
    return base, collection


def check_transactions(api_url: str, client: Optional[HttpClient] = None) -> None:
    """Refuse, before anything is written, an API that does not declare the Transactions extension."""
    client = client or default_client()
    base = _base(api_url)
    landing = client.get_json(base + "/")
    classes = landing.get("conformsTo") if isinstance(landing, dict) else None
    if not isinstance(classes, list):
        doc = client.get_json(base + "/conformance")
        classes = doc.get("conformsTo") if isinstance(doc, dict) else []
    if not any(m in str(c) for c in classes or [] for m in TRANSACTION_MARKERS):
        raise UserInputError(
            tr(
                "The STAC API at {url} does not declare the Transactions extension, so it cannot "
                "receive published results; nothing was published. Publish into a results catalog "
                "folder, or ask its administrator to enable transactions."
            ).format(url=base)
        )


def check_collection_id(collection: str) -> str:
    cid = str(collection or "").strip()
    if not cid or "/" in cid:
        raise UserInputError(
            tr("'{id}' is not a usable collection id; give a short name such as idfhr-results.").format(
                id=collection
            )
        )
    return cid


def api_item(item: dict, item_dir: Path, collection: str, assets_url: str) -> dict:
    """``item`` (as written in the catalog folder) for the API: asset hrefs under ``assets_url``."""
    out = copy.deepcopy(item)
    out["collection"] = collection
    base = assets_url.rstrip("/") + "/" + quote(item_dir.name)
    for asset in out.get("assets", {}).values():
        name = str(asset["href"]).removeprefix("./")
        asset["href"] = f"{base}/{quote(name)}"
    out["links"] = [
        link for link in out.get("links", []) if link.get("rel") not in ("root", "parent", "self")
    ]
    return out


def _collection_doc(cid: str) -> dict:
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": cid,
        "title": tr("Shared results (IdF HR)"),
        "description": tr(
            "Detections, changes and zone statistics published by the partners, with their provenance."
        ),
        "license": "other",
        "extent": {
            "spatial": {"bbox": [[1.4, 48.1, 3.6, 49.3]]},  # Île-de-France
            "temporal": {"interval": [[None, None]]},
        },
        "links": [],
    }


def _send(client: HttpClient, method: str, url: str, doc: dict) -> None:
    # the answer's body is not needed (some servers send none with 201/204)
    client.request(
        method, url, body=json.dumps(doc).encode("utf-8"), headers={"Content-Type": "application/json"}
    )


def publish_api(
    item: dict, api_url: str, collection: str = DEFAULT_COLLECTION, client: Optional[HttpClient] = None
) -> str:
    """Create (or replace, same id) ``item`` in ``collection`` of the API; returns the item's URL."""
    client = client or default_client()
    base = _base(api_url)
    cid = check_collection_id(collection)
    coll_url = f"{base}/collections/{quote(cid, safe='')}"
    if client.request("GET", coll_url, accept_status=(404,)).status == 404:
        _send(client, "POST", base + "/collections", _collection_doc(cid))
        log.info("collection %s created in %s", cid, base)
    item = {**item, "collection": cid}
    item_url = f"{coll_url}/items/{quote(item['id'], safe='')}"
    if client.request("GET", item_url, accept_status=(404,)).status == 404:
        _send(client, "POST", coll_url + "/items", item)
    else:
        _send(client, "PUT", item_url, item)
    log.info("item %s published in %s", item["id"], coll_url)
    return item_url
