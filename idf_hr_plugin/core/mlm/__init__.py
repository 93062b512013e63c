"""Models shared through a STAC catalog with the Machine Learning Model (MLM) extension (Qt-free).

:func:`publish_model` writes an MLM item (+ the model and its card) into a static catalog
folder; :func:`model_from_item` reads an MLM item back into a model card the plugin shows
before download; :func:`validation_errors` checks an item against the MLM JSON Schema offline.
"""

from __future__ import annotations

from .fields import MLM_EXTENSION, multihash_sha256, sha256_of_multihash
from .read import CatalogModel, missing_fields, model_from_item
from .schema import validation_errors
from .write import item_from_spec, publish_model

__all__ = [
    "MLM_EXTENSION",
    "CatalogModel",
    "item_from_spec",
    "missing_fields",
    "model_from_item",
    "multihash_sha256",
    "publish_model",
    "sha256_of_multihash",
    "validation_errors",
]
