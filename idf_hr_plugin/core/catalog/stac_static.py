"""A static STAC catalog (files over http(s) or on disk) as a catalog source."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

from ..errors import Cancelled, IdfHrError, NetworkError, UserInputError
from ..http import HttpClient, default_client
from ..i18n import tr
from .hrefs import is_remote, local_location, resolve_href
from .model import CancelCheck, Collection, Item, SearchQuery, SourceConfig
from .stac_item import (
    collection_attribution,
    collection_from_stac,
    item_from_stac,
    looks_like_collection,
    looks_like_item,
    looks_like_item_collection,
    select,
)

LOG = logging.getLogger("idf_hr.catalog")

Location = Union[str, Callable[[], str]]


@dataclass
class _Node:
    href: str
    parent: Optional[Collection] = None
    attribution: Optional[str] = None
    depth: int = 0
    is_item_link: bool = False
    doc: Any = None  # prefetched document
    error: Optional[IdfHrError] = None  # prefetch failure


class StaticStacSource:
    """Walks a static catalog (child catalogs, collections, items, linked item collections).

    Filters of the :class:`SearchQuery` are applied locally. A child that cannot be read is
    logged as a warning and skipped; the rest of the catalog is still searched.
    """

    max_depth = 32
    #: item documents of a remote catalog are fetched this many at a time (1 = sequential)
    max_workers = 6

    def __init__(
        self,
        config: SourceConfig,
        client: Optional[HttpClient] = None,
        location: Optional[Location] = None,
    ) -> None:
        self.config = config
        self._client = client
        self._location = location if location is not None else config.url
        self.warnings: list[str] = []

    @property
    def client(self) -> HttpClient:
        if self._client is None:
            self._client = default_client()
        return self._client

    # -- location -------------------------------------------------------------------------------
    def root_location(self) -> str:
        """The root catalog location: an http(s) URL or an absolute local path."""
        loc = self._location() if callable(self._location) else self._location
        loc = str(loc or "").strip()
        if not loc:
            raise UserInputError(
                tr(
                    "The catalog source “{name}” has no URL. Set the address of its catalog.json in "
                    "the IdF HR settings (Catalog sources)."
                ).format(name=self.config.name)
            )
        return loc if is_remote(loc) else local_location(loc)

    def _load(self, location: str, cancel: Optional[CancelCheck]) -> Any:
        if is_remote(location):
            return self.client.get_json(location, cancel=cancel)
        try:
            with open(location, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise UserInputError(
                tr("The catalog file {path} cannot be read ({error}). Check that it exists.").format(
                    path=location, error=exc.strerror or exc
                )
            ) from exc
        try:
            return json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserInputError(
                tr("The catalog file {path} is not valid JSON; the catalog is damaged.").format(path=location)
            ) from exc

    # -- walking -----------------------------------------------------------------------------
    def _walk(
        self,
        cancel: Optional[CancelCheck],
        want_items: bool,
        only_collections: Optional[list[str]] = None,
    ) -> Iterator[tuple[str, Any, _Node]]:
        """Yield (kind, doc, node) for every readable document: kind is catalog|collection|item.

        Hrefs resolve against each document's actual location (``self`` links are only hints).
        With ``only_collections``, item links of other collections are not followed.
        """
        root = self.root_location()
        self.warnings = []
        stack = [_Node(root)]
        visited: set[str] = set()
        first = True
        while stack:
            if cancel is not None and cancel():
                raise Cancelled(tr("Catalog search cancelled."))
            node = stack.pop()
            if node.href in visited:
                continue
            visited.add(node.href)
            if node.is_item_link and node.doc is None and node.error is None:
                self._prefetch(node, stack, visited, cancel)
            try:
                if node.error is not None:
                    raise node.error
                doc = node.doc if node.doc is not None else self._load(node.href, cancel)
                node.doc = None  # do not keep documents alive on the stack
                if not isinstance(doc, dict):
                    raise NetworkError(
                        tr("{url} is not a STAC document.").format(url=node.href), url=node.href
                    )
            except Cancelled:
                raise
            except IdfHrError as exc:
                if first:
                    raise
                self._warn(
                    tr("Part of the catalog was skipped: {url} could not be read ({error}).").format(
                        url=node.href, error=exc
                    )
                )
                continue
            first = False
            if looks_like_item(doc):
                yield "item", doc, node
                continue
            if looks_like_item_collection(doc):
                for feat in doc.get("features") or []:
                    if looks_like_item(feat):
                        yield "item", feat, node
                continue
            parent = node.parent
            attribution = node.attribution
            kind = "catalog"
            if looks_like_collection(doc):
                kind = "collection"
                parent = collection_from_stac(doc)
                attribution = collection_attribution(doc) or attribution
            yield kind, doc, node
            if node.depth >= self.max_depth:
                continue
            follow_items = want_items and not (
                only_collections
                and kind == "collection"
                and parent is not None
                and parent.id not in only_collections
            )
            children: list[_Node] = []
            for link in doc.get("links") or []:
                if not isinstance(link, dict) or not link.get("href"):
                    continue
                rel = link.get("rel")
                if rel == "child" or (follow_items and rel in ("item", "items")):
                    try:
                        href = resolve_href(str(link["href"]), node.href, root)
                    except UserInputError as exc:
                        self._warn(str(exc))
                        continue
                    children.append(_Node(href, parent, attribution, node.depth + 1, rel == "item"))
            stack.extend(reversed(children))  # keep document order

    def _prefetch(
        self, node: _Node, stack: list[_Node], visited: set[str], cancel: Optional[CancelCheck]
    ) -> None:
        """Fetch ``node`` and the next remote item links on the stack concurrently."""
        if self.max_workers <= 1 or not is_remote(node.href):
            return
        batch = [node]
        for other in reversed(stack):
            if len(batch) >= self.max_workers * 2:
                break
            if not (other.is_item_link and other.doc is None and is_remote(other.href)):
                break
            if other.href not in visited:
                batch.append(other)
        if len(batch) < 2:
            return

        def fetch(n: _Node) -> None:
            try:
                n.doc = self._load(n.href, cancel)
            except IdfHrError as exc:  # Cancelled included: re-raised when the node is processed
                n.error = exc

        with ThreadPoolExecutor(max_workers=self.max_workers) as pool:
            list(pool.map(fetch, batch))

    def _warn(self, message: str) -> None:
        LOG.warning("%s: %s", self.config.name, message)
        self.warnings.append(message)

    # -- public API -----------------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        """Every collection reachable through ``child`` links."""
        out: list[Collection] = []
        seen: set[str] = set()
        for kind, doc, _node in self._walk(None, want_items=False):
            if kind == "collection":
                c = collection_from_stac(doc)
                if c.id not in seen:
                    seen.add(c.id)
                    out.append(c)
        return out

    def search(self, query: SearchQuery, cancel: Optional[CancelCheck] = None) -> Iterator[Item]:
        """Items matching ``query`` (filters applied locally), at most ``query.limit``."""
        return self._search(query, cancel)

    def _search(self, query: SearchQuery, cancel: Optional[CancelCheck]) -> Iterator[Item]:
        return select(self._items(query, cancel), query)

    def _items(self, query: SearchQuery, cancel: Optional[CancelCheck]) -> Iterator[Item]:
        root = self.root_location()
        for kind, doc, node in self._walk(cancel, want_items=True, only_collections=query.collections):
            if kind != "item":
                continue
            try:
                yield item_from_stac(
                    doc,
                    self.config.id,
                    base=node.href,
                    root=root,
                    parent=node.parent,
                    parent_attribution=node.attribution,
                )
            except (TypeError, ValueError, AttributeError) as exc:
                self._warn(
                    tr("An item of {url} is malformed and was skipped ({error}).").format(
                        url=node.href, error=exc
                    )
                )
