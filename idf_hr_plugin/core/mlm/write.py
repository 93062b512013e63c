"""Write a model (ONNX + sidecar card) as an MLM item into a static STAC catalog folder.

Layout (plain files, e.g. on a shared network drive)::

    <catalog>/catalog.json                  root catalog, one ``item`` link per model
    <catalog>/<item id>/<item id>.json      the MLM item
    <catalog>/<item id>/<model>.onnx        asset ``model`` (role ``mlm:model``)
    <catalog>/<item id>/<model>.json        asset ``card`` (the publisher's full sidecar card)

The item id ends with the model's sha256 prefix: publishing the same model again rewrites the
same item (idempotent), another version never overwrites it. Every file is written to a
temporary name and moved into place; a failure leaves the catalog as it was.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from pathlib import Path
from typing import Any, Optional

from ..i18n import tr
from ..stac_folder import catalog_lock, publish_item
from ..stac_folder import copy_file as _copy
from .fields import (
    FILE_EXTENSION,
    MLM_EXTENSION,
    MODEL_ROLE,
    NS,
    ONNX_ARTIFACT,
    ONNX_MEDIA_TYPE,
    TASK_TO_MLM,
    multihash_sha256,
)

log = logging.getLogger(__name__)

# Île-de-France, the area the plugin's models are meant for (lon/lat), unless the card says otherwise.
IDF_BBOX = (1.446, 48.120, 3.559, 49.242)
LOCK_WAIT_S = 30.0
LOCK_STALE_S = 120.0
_SPDX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*$")
_ID_RE = re.compile(r"[^0-9A-Za-z_.-]+")


def _item_id(name: str, version: str, sha256: str) -> str:
    base = _ID_RE.sub("-", name).strip("-.") or "model"
    if version:
        base += "-" + _ID_RE.sub("-", version).strip("-.")
    return f"{base}-{sha256[:8]}"


def _hex(color: str) -> Optional[str]:
    c = str(color or "").lstrip("#")
    return c.lower() if re.fullmatch(r"[0-9A-Fa-f]{6}", c) else None


def _shape(dims: list) -> list:
    return [d if isinstance(d, int) and d > 0 else -1 for d in dims]


def _dim_order(n: int, names: list) -> list:
    if len(names) == n:
        return names
    return ["batch"] + [f"dim-{i}" for i in range(1, n)]


def item_from_spec(
    spec,
    *,
    model_href: str,
    card_href: Optional[str] = None,
    card_sha256: Optional[str] = None,
    size_bytes: Optional[int] = None,
    now: Optional[str] = None,
) -> dict:
    """The MLM STAC item of a model (:class:`~..inference.model.ModelSpec`) and its card."""
    card = spec.card or {}
    tasks = TASK_TO_MLM.get(spec.task, ["object-detection"])
    bbox = card.get("bbox") if isinstance(card.get("bbox"), list) and len(card["bbox"]) == 4 else IDF_BBOX
    x0, y0, x1, y1 = (float(v) for v in bbox)
    licence = str(card.get("licence") or card.get("license") or "").strip()
    if spec.mean and spec.std:
        # the engine scales to 0..1 then standardises: on the 0..255 input that is a z-score
        scaling = [
            {"type": "z-score", "mean": round(m * 255.0, 6), "stddev": round(s * 255.0, 6)}
            for m, s in zip(spec.mean, spec.std)
        ]
    else:
        scaling = [{"type": "scale", "value": 1.0 / 255.0}]
    h, w = spec.input_size
    classes = [
        {
            "value": int(cid),
            "name": str(label),
            "description": str(label),
            **({"color_hint": _hex(spec.class_colors.get(cid))} if _hex(spec.class_colors.get(cid)) else {}),
            # the card's names in other languages (e.g. French) travel with the class
            **(
                {"idfhr:labels": labels}
                if (labels := {lang: m[cid] for lang, m in sorted(spec.class_labels.items()) if cid in m})
                else {}
            ),
        }
        for cid, label in sorted(spec.class_names.items())
    ]
    outputs = []
    for i, out in enumerate(spec.outputs or []):
        dims = _shape(out.shape) or [-1]
        order = {
            3: ["batch", "features", "anchors"]
            if spec.layout.startswith("yolov8")
            else ["batch", "boxes", "features"],
            4: ["batch", "class", "height", "width"],
        }.get(len(dims), [])
        outputs.append(
            {
                "name": out.name or f"output{i}",
                "tasks": tasks,
                "result": {"shape": dims, "dim_order": _dim_order(len(dims), order), "data_type": out.dtype},
                "classification:classes": classes if i == 0 else [],
            }
        )
    props: dict[str, Any] = {
        "datetime": now or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "title": spec.name,
        "description": str(card.get("description") or spec.name),
        "mlm:name": spec.name,
        "mlm:architecture": str(card.get("architecture") or spec.layout),
        "mlm:tasks": tasks,
        "mlm:framework": "ONNX",
        "mlm:accelerator": "amd64",
        "mlm:accelerator_constrained": False,
        "mlm:input": [
            {
                "name": spec.input.name or "image",
                "bands": [],
                "input": {
                    "shape": [-1 if spec.dynamic_batch else int(spec.fixed_batch or 1), spec.channels, h, w],
                    "dim_order": ["batch", "channel", "height", "width"],
                    "data_type": spec.input.dtype,
                },
                "value_scaling": scaling,
                "resize_type": "interpolation-linear",
            }
        ],
        "mlm:output": outputs,
        "license": licence if _SPDX.match(licence) else "other",
        NS + "sha256": spec.sha256,
        NS + "layout": spec.layout,
        NS + "task": spec.task,
        NS + "conf": spec.conf,
        NS + "iou": spec.iou,
    }
    if card.get("version"):
        props["version"] = str(card["version"])
    if licence and not _SPDX.match(licence):
        props[NS + "licence"] = licence
    if spec.gsd_m:
        props["gsd"] = float(spec.gsd_m)
    if isinstance(card.get("params"), int):
        props["mlm:total_parameters"] = int(card["params"])
    for key in ("tile_size", "overlap_px"):
        if getattr(spec, key, None):
            props[NS + key] = int(getattr(spec, key))
    model_asset: dict[str, Any] = {
        "href": model_href,
        "title": tr("ONNX model"),
        "type": ONNX_MEDIA_TYPE,
        "roles": [MODEL_ROLE, "mlm:weights", "data"],
        "mlm:artifact_type": ONNX_ARTIFACT,
        "file:checksum": multihash_sha256(spec.sha256),
    }
    if size_bytes is not None:
        model_asset["file:size"] = int(size_bytes)
    assets = {"model": model_asset}
    if card_href:
        assets["card"] = {
            "href": card_href,
            "title": tr("Model card (IdF HR sidecar JSON)"),
            "type": "application/json",
            "roles": ["metadata"],
            **({"file:checksum": multihash_sha256(card_sha256)} if card_sha256 else {}),
        }
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [MLM_EXTENSION, FILE_EXTENSION],
        "id": _item_id(spec.name, str(card.get("version") or ""), spec.sha256),
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
        },
        "bbox": [x0, y0, x1, y1],
        "properties": props,
        "assets": assets,
        "links": [],
    }


def _catalog_lock(folder: Path):
    return catalog_lock(folder, LOCK_WAIT_S, LOCK_STALE_S)  # module values read now (tests shorten them)


def _new_root() -> dict:
    return {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "idfhr-models",
        "title": tr("Shared AI models (IdF HR)"),
        "description": tr("ONNX models described with the STAC MLM extension, published by IdF HR."),
        "links": [{"rel": "root", "href": "./catalog.json", "type": "application/json"}],
    }


def publish_model(
    model: str | os.PathLike, catalog_dir: str | os.PathLike, *, now: Optional[str] = None
) -> Path:
    """Publish an ONNX model (or its sidecar card ``.json``) as an MLM item; returns the item path.

    The catalog folder is created when absent; an existing ``catalog.json`` gets one more item
    link (kept once when the same model is published again).
    """
    from ..inference.model import load_model_spec

    src = Path(model)
    if src.suffix.lower() == ".json":
        src = src.with_suffix(".onnx")
    spec = load_model_spec(src)  # checks the card's sha256 against the file
    folder = Path(catalog_dir)
    card_src = next((c for c in (src.with_suffix(".json"), Path(str(src) + ".json")) if c.is_file()), None)
    model_name = src.name
    card_name = src.with_suffix(".json").name if card_src else None
    card_sha = None
    if card_src is not None:
        from ..inference.model import sha256_file

        card_sha = sha256_file(card_src)
    item = item_from_spec(
        spec,
        model_href="./" + model_name,
        card_href="./" + card_name if card_name else None,
        card_sha256=card_sha,
        size_bytes=src.stat().st_size,
        now=now,
    )
    item["links"] = [
        {"rel": "root", "href": "../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
    ]

    def write_assets(item_dir: Path) -> None:
        _copy(src, item_dir / model_name)
        if card_src is not None:
            _copy(card_src, item_dir / card_name)

    item_path = publish_item(folder, item, spec.name, _new_root(), write_assets, _catalog_lock(folder))
    log.info("model %s published as %s", spec.name, item_path)
    return item_path
