"""MLM field names, the plugin's task names in MLM terms, and ``file:checksum`` multihashes."""

from __future__ import annotations

import re
from typing import Optional

MLM_EXTENSION = "https://stac-extensions.github.io/mlm/v1.5.2/schema.json"
FILE_EXTENSION = "https://stac-extensions.github.io/file/v2.1.0/schema.json"
REQUIRED_PROPERTIES = ("mlm:name", "mlm:architecture", "mlm:tasks", "mlm:input", "mlm:output")
MODEL_ROLE = "mlm:model"
ONNX_ARTIFACT = "onnx"
ONNX_MEDIA_TYPE = "application/octet-stream; framework=onnx; profile=onnx"
# Prefix of the plugin's own fields (run settings the MLM extension has no field for).
NS = "idfhr:"

# plugin task -> MLM tasks, and back (first match wins)
TASK_TO_MLM = {
    "detection": ["object-detection"],
    "obb": ["object-detection"],
    "instance_segmentation": ["instance-segmentation"],
    "semantic_segmentation": ["semantic-segmentation"],
    "regression": ["regression"],
    "superresolution": ["super-resolution"],
}
MLM_TO_TASK = {
    "object-detection": "detection",
    "detection": "detection",
    "instance-segmentation": "instance_segmentation",
    "panoptic-segmentation": "instance_segmentation",
    "semantic-segmentation": "semantic_segmentation",
    "segmentation": "semantic_segmentation",
    "regression": "regression",
    "super-resolution": "superresolution",
    "downscaling": "superresolution",
}

_SHA256_MULTIHASH = re.compile(r"^1220([0-9a-fA-F]{64})$")


def multihash_sha256(hex_digest: str) -> str:
    """The ``file:checksum`` value of a sha256 digest: multihash ``12`` (sha2-256) ``20`` (32 bytes)."""
    return "1220" + hex_digest.lower()


def sha256_of_multihash(value: object) -> Optional[str]:
    """The sha256 hex digest inside a ``file:checksum`` multihash, ``None`` for any other hash."""
    m = _SHA256_MULTIHASH.match(str(value or "").strip())
    return m.group(1).lower() if m else None
