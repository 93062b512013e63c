"""Catalog core: STAC API, static STAC, OGC WMTS and the demo catalog behind one Item/Asset model."""

from .model import Asset, CatalogSource, Collection, Item, SearchQuery, SourceConfig, WmtsLayerRef
from .sources import default_sources, make_source, search_configs, search_sources

__all__ = [
    "Asset",
    "CatalogSource",
    "Collection",
    "Item",
    "SearchQuery",
    "SourceConfig",
    "WmtsLayerRef",
    "default_sources",
    "make_source",
    "search_configs",
    "search_sources",
]
