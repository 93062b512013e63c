"""A STAC API (item search) as a catalog source."""

from __future__ import annotations

import json
import logging
from typing import Any, Iterator, Optional
from urllib.parse import urljoin

from ..errors import Cancelled, NetworkError, UserInputError
from ..http import HttpClient, default_client
from ..i18n import tr
from .model import CancelCheck, Collection, Item, SearchQuery, SourceConfig
from .stac_item import collection_from_stac, datetime_interval, item_from_stac, select

LOG = logging.getLogger("idf_hr.catalog")

POST_UNSUPPORTED = (404, 405, 501)
MAX_PAGES = 10_000


def _check_cancel(cancel: Optional[CancelCheck]) -> None:
    if cancel is not None and cancel():
        raise Cancelled(tr("Catalog search cancelled."))


class StacApiSource:
    """Item search on a STAC API: POST ``/search`` (GET when POST is refused), paging through ``next``."""

    def __init__(self, config: SourceConfig, client: Optional[HttpClient] = None) -> None:
        if not config.url.strip():
            raise UserInputError(
                tr(
                    "The catalog source “{name}” has no URL. Set the address of its STAC API in the "
                    "IdF HR settings (Catalog sources)."
                ).format(name=config.name)
            )
        self.config = config
        self.client = client or default_client()
        self.url = config.url.strip()
        if not self.url.endswith("/"):
            self.url += "/"
        self._landing: Optional[dict[str, Any]] = None
        # set by each search: the API stopped paging before the end (results may be missing)
        self.truncated = False
        self.warnings: list[str] = []

    # -- service description ------------------------------------------------------------------
    def landing(self, cancel: Optional[CancelCheck] = None) -> dict[str, Any]:
        """The landing page (``/``), fetched once."""
        if self._landing is None:
            doc = self.client.get_json(self.url, cancel=cancel)
            if not isinstance(doc, dict):
                raise NetworkError(
                    tr("{url} did not answer with a STAC API landing page. Check the source URL.").format(
                        url=self.url
                    ),
                    url=self.url,
                )
            self._landing = doc
        return self._landing

    def conforms_to(self) -> list[str]:
        """Conformance classes from the landing page (or ``/conformance``)."""
        classes = self.landing().get("conformsTo")
        if isinstance(classes, list):
            return [str(c) for c in classes]
        doc = self.client.get_json(urljoin(self.url, "conformance"))
        return [str(c) for c in (doc.get("conformsTo") or [])] if isinstance(doc, dict) else []

    def _link(self, rel: str, method: Optional[str] = None) -> Optional[str]:
        for link in self.landing().get("links") or []:
            if not isinstance(link, dict) or link.get("rel") != rel or not link.get("href"):
                continue
            if method and str(link.get("method") or "GET").upper() != method:
                continue
            return urljoin(self.url, str(link["href"]))
        return None

    def _search_methods(self) -> set[str]:
        methods = {
            str(link.get("method") or "GET").upper()
            for link in self.landing().get("links") or []
            if isinstance(link, dict) and link.get("rel") == "search"
        }
        return methods or {"GET", "POST"}

    # -- collections ------------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        """Collections listed at ``/collections``."""
        url = self._link("data") or urljoin(self.url, "collections")
        out: list[Collection] = []
        seen: set[str] = set()
        pages = 0
        while url and pages < 100:
            pages += 1
            doc = self.client.get_json(url)
            for c in (doc.get("collections") or []) if isinstance(doc, dict) else []:
                if isinstance(c, dict) and c.get("id") and c["id"] not in seen:
                    seen.add(c["id"])
                    out.append(collection_from_stac(c))
            url = _next_get_href(doc, url)
        return out

    # -- search -------------------------------------------------------------------------------
    def search_body(self, query: SearchQuery) -> dict[str, Any]:
        """The JSON body of the first POST ``/search`` request."""
        body: dict[str, Any] = {"limit": max(1, min(query.page_size, query.limit))}
        if query.bbox is not None:
            body["bbox"] = [float(v) for v in query.bbox]
        interval = datetime_interval(query)
        if interval:
            body["datetime"] = interval
        if query.collections:
            body["collections"] = list(query.collections)
        return body

    def search(self, query: SearchQuery, cancel: Optional[CancelCheck] = None) -> Iterator[Item]:
        """Items matching ``query``, at most ``query.limit``, deduplicated by (collection, id)."""
        return self._limited(query, cancel)

    def _limited(self, query: SearchQuery, cancel: Optional[CancelCheck]) -> Iterator[Item]:
        return select(self._raw_items(query, cancel), query)

    def _truncate(self, count: int, why: str) -> None:
        self.truncated = True
        message = tr(
            "The STAC API at {url} {why}: the search stopped after {n} results and more may exist. "
            "Narrow the search (smaller extent, fewer dates or collections) or report the problem to "
            "the service."
        ).format(url=self.url, why=why, n=count)
        LOG.warning("%s", message)
        self.warnings.append(message)

    def _raw_items(self, query: SearchQuery, cancel: Optional[CancelCheck]) -> Iterator[Item]:
        self.truncated = False
        self.warnings = []
        _check_cancel(cancel)
        search_url = self._link("search", "POST") or self._link("search") or urljoin(self.url, "search")
        body = self.search_body(query)
        page = None
        if "POST" in self._search_methods():
            resp = self.client.request(
                "POST",
                search_url,
                body=json.dumps(body).encode("utf-8"),
                headers={"Content-Type": "application/json", "Accept": "application/geo+json"},
                accept_status=POST_UNSUPPORTED,
                cancel=cancel,
            )
            if resp.status in POST_UNSUPPORTED:
                LOG.info("POST %s answered %s; falling back to GET", search_url, resp.status)
            else:
                page = resp.json()
        current_url = search_url
        if page is None:
            current_url = self._link("search", "GET") or search_url
            page = self.client.get_json(current_url, params=_get_params(body), cancel=cancel)
        seen_requests: set[str] = set()
        received = 0
        for _ in range(MAX_PAGES):
            features = _features(page, current_url)
            received += len(features)
            for f in features:
                yield item_from_stac(f, self.config.id, base=current_url, root=self.url)
            if not features:
                return
            _check_cancel(cancel)
            nxt = _next_link(page)
            if nxt is None:
                return
            href = urljoin(current_url, str(nxt["href"]))
            method = str(nxt.get("method") or "GET").upper()
            if method == "POST":
                nbody = nxt.get("body") if isinstance(nxt.get("body"), dict) else None
                if nxt.get("merge") and nbody is not None:
                    body = {**body, **nbody}
                elif nbody is not None:
                    body = nbody
                key = "POST " + href + json.dumps(body, sort_keys=True)
                if key in seen_requests:
                    self._truncate(received, tr("repeats a 'next' page link it already gave"))
                    return
                seen_requests.add(key)
                headers = {"Accept": "application/geo+json"}
                if isinstance(nxt.get("headers"), dict):
                    headers.update({str(k): str(v) for k, v in nxt["headers"].items()})
                page = self.client.post_json(href, body, headers=headers, cancel=cancel)
            else:
                if "GET " + href in seen_requests:
                    self._truncate(received, tr("repeats a 'next' page link it already gave"))
                    return
                seen_requests.add("GET " + href)
                page = self.client.get_json(href, cancel=cancel)
            current_url = href
        self._truncate(received, tr("still had more pages after {n}").format(n=MAX_PAGES))


def _get_params(body: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": body["limit"]}
    if "bbox" in body:
        params["bbox"] = ",".join(repr(float(v)) for v in body["bbox"])
    if "datetime" in body:
        params["datetime"] = body["datetime"]
    if "collections" in body:
        params["collections"] = ",".join(body["collections"])
    return params


def _features(page: Any, url: str) -> list[dict[str, Any]]:
    if not isinstance(page, dict) or not isinstance(page.get("features", []), list):
        raise NetworkError(
            tr(
                "The STAC API at {url} did not answer with an item collection. Check that the "
                "source URL points to a STAC API."
            ).format(url=url),
            url=url,
        )
    return [f for f in page.get("features") or [] if isinstance(f, dict)]


def _next_link(page: dict[str, Any]) -> Optional[dict[str, Any]]:
    for link in page.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return link
    return None


def _next_get_href(doc: Any, base: str) -> Optional[str]:
    if not isinstance(doc, dict):
        return None
    nxt = _next_link(doc)
    if nxt is None or str(nxt.get("method") or "GET").upper() != "GET":
        return None
    href = urljoin(base, str(nxt["href"]))
    return None if href == base else href
