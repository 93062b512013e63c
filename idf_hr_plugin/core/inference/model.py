"""Load an ONNX model and describe it: Ultralytics / Deepness metadata + sidecar card -> ModelSpec.

Metadata and I/O shapes are read by ONNX Runtime itself (``get_modelmeta()``, ``get_inputs()``,
``get_outputs()``): the ``onnx`` package is not needed at run time. The inference session is
created with :func:`create_session`.
"""

from __future__ import annotations

import ast
import colorsys
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from ..errors import UserInputError
from ..i18n import tr

log = logging.getLogger(__name__)

TASKS = (
    "detection",
    "obb",
    "instance_segmentation",
    "semantic_segmentation",
    "regression",
    "superresolution",
)
# layouts understood by decoders.py
LAYOUTS = (
    "yolov5",  # (B, N, 5+nc)
    "yolov8",  # (B, 4+nc, A)
    "yolov8_obb",  # (B, 4+nc+1, A), angle last (radians)
    "yolov8_seg",  # (B, 4+nc+32, A) + protos (B, 32, h, w)
    "end2end",  # (B, max_det, 6): x1,y1,x2,y2,score,cls
    "end2end_obb",  # (B, max_det, 7): cx,cy,w,h,score,cls,angle
    "end2end_seg",  # (B, max_det, 6+32) + protos
    "seg_maps",  # one or several (B, C, H, W) / (B, H, W) probability maps
    "regression_map",  # (B, 1, H, W) / (B, H, W) value map
    "image",  # super-resolution (B, C, kH, kW)
    "vector",  # (B, n): recognition / embedding
)

_DEEPNESS_TYPES = {
    "segmentor": "semantic_segmentation",
    "detector": "detection",
    "regressor": "regression",
    "regression": "regression",
    "recognition": "regression",
    "superresolution": "superresolution",
}
_ULTRA_TASKS = {"detect": "detection", "obb": "obb", "segment": "instance_segmentation"}
_DEEPNESS_DET_TYPES = {
    "yolo_v5_or_v7_default": "yolov5",
    "yolo_v6": "yolov5",
    "yolo_v9": "yolov8",
    "yolo_ultralytics": "yolov8",
    "yolo_ultralytics_segmentation": "yolov8_seg",
    "yolo_ultralytics_obb": "yolov8_obb",
}


@dataclass
class TensorInfo:
    """Name, shape (ints, or strings for dynamic dims) and element type of one model tensor."""

    name: str
    shape: list
    dtype: str = "float32"


@dataclass
class ModelSpec:
    """Everything the engine needs to know about a model, plus its model card for the user."""

    path: str
    name: str
    sha256: str
    task: str
    layout: str
    class_names: dict = field(default_factory=dict)  # {class_id: label}
    class_colors: dict = field(default_factory=dict)  # {class_id: "#rrggbb"}
    # names for people, per language: {"fr": {class_id: "Bâtiment"}}; class_names stay the machine names
    class_labels: dict = field(default_factory=dict)
    input: TensorInfo = field(default_factory=lambda: TensorInfo("input", []))
    outputs: list = field(default_factory=list)  # [TensorInfo]
    input_size: tuple = (512, 512)  # (h, w)
    channels: int = 3
    dynamic_batch: bool = True
    fixed_batch: Optional[int] = None
    gsd_m: Optional[float] = None
    mean: Optional[list] = None  # per channel, applied after scaling to 0..1
    std: Optional[list] = None
    conf: float = 0.25
    iou: float = 0.45
    seg_thresh: float = 0.5
    seg_small_segment_px: int = 0
    tile_size: Optional[int] = None
    overlap_px: Optional[int] = None
    seg_activation: str = "auto"  # sigmoid | softmax | auto (per output)
    seg_output_classes: list = field(default_factory=list)  # per output: {channel: (class_id, label)}
    card: dict = field(default_factory=dict)  # licence, training_data, accuracy, limits, ...
    metadata: dict = field(default_factory=dict)  # raw ONNX metadata
    convention: str = "none"  # ultralytics | deepness | card | none

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def label(self, class_id: int) -> str:
        return str(self.class_names.get(int(class_id), str(int(class_id))))

    def display_labels(self, lang: str) -> dict[str, str]:
        """{class name: name shown to a reader of ``lang``} (the class name where the card has none)."""
        shown = self.class_labels.get(str(lang)[:2], {})
        return {str(lab): str(shown.get(cid, lab)) for cid, lab in self.class_names.items()}

    def to_dict(self) -> dict:
        """JSON-friendly description (model card shown to the user and stored with results)."""
        d = asdict(self)
        d["class_names"] = {str(k): v for k, v in self.class_names.items()}
        d["class_colors"] = {str(k): v for k, v in self.class_colors.items()}
        d["class_labels"] = {lang: {str(k): v for k, v in m.items()} for lang, m in self.class_labels.items()}
        d["seg_output_classes"] = [{str(c): list(v) for c, v in m.items()} for m in self.seg_output_classes]
        d.pop("metadata", None)
        return d


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def stable_color(class_id: int) -> str:
    """A colour for a class that is the same on every run (golden-ratio hue walk)."""
    hue = (0.07 + int(class_id) * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _py_literal(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value


def _json_value(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return _py_literal(value)


def _dims(shape) -> list:
    """ONNX Runtime's shape (ints, names of dynamic dims, None for unknown ones) as ints or strings."""
    return [int(d) if isinstance(d, int) else (str(d) if d else "?") for d in shape or []]


_ELEM = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


class RuntimeMissing(UserInputError):
    """ONNX Runtime cannot be imported: models can be neither described nor run until it is installed."""


def _tensor(arg) -> TensorInfo:
    return TensorInfo(arg.name, _dims(arg.shape), _ELEM.get(arg.type, "float32"))


def _read_onnx(path: Path) -> tuple[dict, list, list]:
    """(metadata, inputs, outputs) of an ONNX model, read by ONNX Runtime itself.

    The graph is not optimised (metadata and I/O only), so this is cheap next to a real session.
    """
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise RuntimeMissing(
            tr(
                "ONNX Runtime is not installed, so the model cannot be read or run. Install it from the "
                "Detection tab (Install ONNX Runtime) or with pip install onnxruntime."
            )
        ) from exc
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    try:
        sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise UserInputError(
            tr(
                "'{path}' is not a readable ONNX model ({err}). Choose a .onnx file exported by "
                "Ultralytics, Deepness or another ONNX exporter."
            ).format(path=path, err=str(exc)[:200] or type(exc).__name__)
        ) from exc
    meta = dict(sess.get_modelmeta().custom_metadata_map or {})
    return meta, [_tensor(i) for i in sess.get_inputs()], [_tensor(o) for o in sess.get_outputs()]


def _parse_class_names(raw: Any) -> tuple[dict, list]:
    """Deepness/Ultralytics class names -> ({id: label}, per-output channel maps)."""
    if isinstance(raw, str):
        raw = _json_value(raw)
    if isinstance(raw, dict):
        raw = [raw]
    if isinstance(raw, (list, tuple)) and raw and all(isinstance(x, str) for x in raw):
        raw = [dict(enumerate(raw))]
    names: dict = {}
    per_output: list = []
    next_id = 0
    for out_map in raw or []:
        if not isinstance(out_map, dict):
            continue
        chmap = {}
        for key in sorted(out_map, key=lambda k: int(k)):
            names[next_id] = str(out_map[key])
            chmap[int(key)] = (next_id, str(out_map[key]))
            next_id += 1
        per_output.append(chmap)
    return names, per_output


def load_card(model_path: str | os.PathLike) -> dict:
    """Read the sidecar card ``<model>.json`` next to the model (``{}`` when absent)."""
    p = Path(model_path)
    for cand in (p.with_suffix(".json"), Path(str(p) + ".json")):
        if cand.is_file():
            try:
                data = json.loads(cand.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UserInputError(
                    tr("The model card '{path}' is not valid JSON ({err}); fix or remove it.").format(
                        path=cand, err=exc
                    )
                ) from exc
            if not isinstance(data, dict):
                raise UserInputError(tr("The model card '{path}' must hold a JSON object.").format(path=cand))
            return data
    return {}


def load_model_spec(
    path: str | os.PathLike,
    *,
    expected_sha256: str | None = None,
    task: str | None = None,
    layout: str | None = None,
    card: dict | None = None,
) -> ModelSpec:
    """Read an ONNX model's metadata and sidecar card into a :class:`ModelSpec`.

    ``task``/``layout`` override automatic detection. ``expected_sha256`` (or the card's
    ``sha256``) is verified; a mismatch raises :class:`UserInputError`.
    """
    p = Path(path)
    if not p.is_file():
        raise UserInputError(tr("The model file '{path}' does not exist or is not a file.").format(path=p))
    try:
        digest = sha256_file(p)
    except OSError as exc:
        raise UserInputError(
            tr("The model file '{path}' cannot be read ({err}).").format(path=p, err=exc)
        ) from exc
    card = dict(card if card is not None else load_card(p))
    want = (expected_sha256 or card.get("sha256") or "").strip().lower()
    if want and want != digest:
        raise UserInputError(
            tr(
                "The model '{path}' does not match its expected sha256 ({want}; the file has "
                "{got}). The file is corrupted or is not the model you meant: download it again."
            ).format(path=p.name, want=want, got=digest)
        )
    meta, inputs, outs = _read_onnx(p)
    if len(inputs) != 1:
        raise UserInputError(
            tr("The model '{name}' has {n} inputs; only single-image models are supported.").format(
                name=p.name, n=len(inputs)
            )
        )
    in_info = inputs[0]
    in_shape = in_info.shape
    if len(in_shape) != 4:
        raise UserInputError(
            tr(
                "The model '{name}' expects an input of shape {shape}; an image model takes "
                "(batch, channels, height, width)."
            ).format(name=p.name, shape=in_shape)
        )
    spec = ModelSpec(
        path=str(p.resolve()),
        name=str(card.get("name") or p.stem),
        sha256=digest,
        task="detection",
        layout="yolov8",
        input=in_info,
        outputs=outs,
        card=card,
        metadata=meta,
    )
    bdim = in_shape[0]
    spec.dynamic_batch = not isinstance(bdim, int) or bdim <= 0
    spec.fixed_batch = None if spec.dynamic_batch else int(bdim)
    ch = in_shape[1]
    spec.channels = int(ch) if isinstance(ch, int) and ch > 0 else 3
    _apply_metadata(spec, meta)
    _apply_card(spec, card)
    traced = spec.metadata.get("_nms_batch")
    if spec.dynamic_batch and traced:
        # Ultralytics unrolls its embedded-NMS loop over the export batch: a larger batch returns
        # zeros for the extra images, so never feed more than that (pad up to it instead).
        spec.fixed_batch = int(traced)
    h, w = in_shape[2], in_shape[3]
    if isinstance(h, int) and h > 0 and isinstance(w, int) and w > 0:
        spec.input_size = (h, w)
    elif spec.tile_size:
        spec.input_size = (spec.tile_size, spec.tile_size)
    if task and layout:  # the user's explicit choice: no guessing, nothing to contradict
        detected_task, detected_layout = task, layout
    else:
        detected_task, detected_layout = detect_task_layout(spec)
    spec.task = task or detected_task
    spec.layout = layout or (
        detected_layout if not task or task == detected_task else _default_layout(task, spec)
    )
    if spec.task not in TASKS:
        raise UserInputError(
            tr("Unknown task '{task}'; choose one of: {tasks}.").format(
                task=spec.task, tasks=", ".join(TASKS)
            )
        )
    if spec.layout not in LAYOUTS:
        raise UserInputError(
            tr("Unknown output layout '{layout}'; choose one of: {layouts}.").format(
                layout=spec.layout, layouts=", ".join(LAYOUTS)
            )
        )
    if not (task and layout):  # what the metadata or card says must fit the outputs
        check_layout_shapes(spec, spec.task, spec.layout)
    _finish_classes(spec)
    return spec


def _apply_metadata(spec: ModelSpec, meta: dict) -> None:
    if any(k in meta for k in ("model_type", "class_names", "tiles_size", "tile_size", "det_type")):
        spec.convention = "deepness"
        mt = str(_json_value(meta.get("model_type", '""'))).strip().lower()
        if mt in _DEEPNESS_TYPES:
            spec.metadata["_task_hint"] = _DEEPNESS_TYPES[mt]
        if "class_names" in meta:
            spec.class_names, spec.seg_output_classes = _parse_class_names(meta["class_names"])
        if "resolution" in meta:
            res = _json_value(meta["resolution"])
            if isinstance(res, (int, float)) and res > 0:
                spec.gsd_m = float(res) / 100.0
        ts = meta.get("tiles_size", meta.get("tile_size"))
        if ts is not None:
            ts = _json_value(ts)
            if isinstance(ts, (int, float)) and ts > 0:
                spec.tile_size = int(ts)
        if "tiles_overlap" in meta:  # Deepness: percent of the tile
            ov = _json_value(meta["tiles_overlap"])
            if isinstance(ov, (int, float)) and ov >= 0:
                spec.metadata["_overlap_percent"] = float(ov)
        for key, attr in (("standardization_mean", "mean"), ("standardization_std", "std")):
            if key in meta:
                val = _json_value(meta[key])
                if isinstance(val, (int, float)):
                    val = [float(val)]
                if isinstance(val, (list, tuple)):
                    setattr(spec, attr, [float(v) for v in val])
        for key, attr, cast in (
            ("seg_thresh", "seg_thresh", float),
            ("seg_small_segment", "seg_small_segment_px", int),
            ("det_conf", "conf", float),
            ("det_iou_thresh", "iou", float),
        ):
            if key in meta:
                val = _json_value(meta[key])
                if isinstance(val, (int, float)):
                    setattr(spec, attr, cast(val))
        if "det_type" in meta:
            dt = str(_json_value(meta["det_type"])).strip().lower()
            if dt in _DEEPNESS_DET_TYPES:
                spec.metadata["_layout_hint"] = _DEEPNESS_DET_TYPES[dt]
    if "names" in meta or "task" in meta or "imgsz" in meta:
        spec.convention = "ultralytics"
        if "task" in meta:
            t = str(_py_literal(meta["task"]))
            if t in _ULTRA_TASKS:
                spec.metadata["_task_hint"] = _ULTRA_TASKS[t]
        if "names" in meta:
            names = _py_literal(meta["names"])
            if isinstance(names, (list, tuple)):
                names = dict(enumerate(names))
            if isinstance(names, dict):
                spec.class_names = {int(k): str(v) for k, v in names.items()}
        if "imgsz" in meta:
            sz = _py_literal(meta["imgsz"])
            if isinstance(sz, int):
                sz = [sz, sz]
            if isinstance(sz, (list, tuple)) and len(sz) == 2:
                spec.input_size = (int(sz[0]), int(sz[1]))
                spec.tile_size = spec.tile_size or int(max(sz))
        args = _py_literal(meta.get("args", "{}"))
        if isinstance(args, dict):
            spec.metadata["_ultra_args"] = args
            if args.get("nms"):
                spec.metadata["_end2end"] = True
                if isinstance(args.get("batch"), int) and args["batch"] > 0:
                    spec.metadata["_nms_batch"] = int(args["batch"])
        if str(meta.get("end2end", "")).lower() == "true":
            spec.metadata["_end2end"] = True


def _apply_card(spec: ModelSpec, card: dict) -> None:
    if not card:
        return
    if spec.convention == "none":
        spec.convention = "card"
    classes = card.get("classes")
    if isinstance(classes, list):
        for i, c in enumerate(classes):
            if isinstance(c, dict):
                cid = int(c.get("id", i))
                if c.get("name") or c.get("label"):
                    spec.class_names[cid] = str(c.get("name") or c.get("label"))
                if c.get("color") or c.get("colour"):
                    spec.class_colors[cid] = str(c.get("color") or c.get("colour"))
                if isinstance(c.get("labels"), dict):  # {"fr": "Bâtiment"}: names for people
                    for lang, text in c["labels"].items():
                        spec.class_labels.setdefault(str(lang)[:2], {})[cid] = str(text)
            else:
                spec.class_names[i] = str(c)
    elif isinstance(classes, dict):
        spec.class_names = {int(k): str(v) for k, v in classes.items()}
    gsd = card.get("gsd_m", card.get("intended_gsd_m"))
    if isinstance(gsd, (int, float)) and gsd > 0:
        spec.gsd_m = float(gsd)
    for key in ("conf", "iou", "seg_thresh"):
        if isinstance(card.get(key), (int, float)):
            setattr(spec, key, float(card[key]))
    if isinstance(card.get("tile_size"), int):
        spec.tile_size = int(card["tile_size"])
    if isinstance(card.get("overlap_px"), int):
        spec.overlap_px = int(card["overlap_px"])
    for key in ("task", "layout"):
        if isinstance(card.get(key), str):
            spec.metadata["_card_" + key] = card[key]
    for key in ("mean", "std"):
        if isinstance(card.get(key), list):
            setattr(spec, key, [float(v) for v in card[key]])


def _default_layout(task: str, spec: ModelSpec) -> str:
    return {
        "detection": "yolov8",
        "obb": "yolov8_obb",
        "instance_segmentation": "yolov8_seg",
        "semantic_segmentation": "seg_maps",
        "regression": "regression_map",
        "superresolution": "image",
    }.get(task, "yolov8")


def detect_task_layout(spec: ModelSpec) -> tuple[str, str]:
    """Guess (task, layout) from output shapes and metadata hints (see :data:`LAYOUTS`)."""
    meta = spec.metadata
    if meta.get("_card_task") or meta.get("_card_layout"):
        task = meta.get("_card_task") or "detection"
        return task, meta.get("_card_layout") or _default_layout(task, spec)
    if spec.convention == "ultralytics" and "task" in meta:
        return _ultralytics_task_layout(spec)
    hint = meta.get("_task_hint")
    outs = [o.shape for o in spec.outputs]
    nc = spec.num_classes or None
    in_h, in_w = spec.input_size
    rank = [len(s) for s in outs]
    # instance segmentation: a 3-D prediction + 4-D prototypes with 32 channels
    if len(outs) == 2 and sorted(rank) == [3, 4]:
        pred = outs[rank.index(3)]
        if (
            meta.get("_end2end")
            and isinstance(pred[2], int)
            and pred[2] >= 38
            and (not isinstance(pred[1], int) or pred[1] > pred[2])
        ):
            return "instance_segmentation", "end2end_seg"
        return "instance_segmentation", "yolov8_seg"
    if hint == "instance_segmentation":
        return hint, "yolov8_seg"
    out = outs[0] if outs else []
    if len(out) == 3:
        d1, d2 = out[1], out[2]
        d1i = d1 if isinstance(d1, int) else None
        d2i = d2 if isinstance(d2, int) else None
        layout_hint = meta.get("_layout_hint")
        if layout_hint in ("yolov5", "yolov8", "yolov8_obb"):
            return ("obb" if layout_hint == "yolov8_obb" else "detection"), layout_hint
        yolov5_like = "task" not in meta and ("stride" in meta or (d1i is not None and d1i > 1000))
        if d2i in (6, 7) and not yolov5_like and (meta.get("_end2end") or (d1i is not None and d1i > d2i)):
            if d2i == 7 or hint == "obb":
                return "obb", "end2end_obb"
            return "detection", "end2end"
        if d1i is not None and d2i is not None and d1i < d2i:
            if hint == "obb" or (nc and d1i == 4 + nc + 1):
                return "obb", "yolov8_obb"
            return "detection", "yolov8"
        if d1i is not None and d2i is None and hint in ("detection", "obb") and d1i < 4 + 1024:
            # Ultralytics dynamic=True export: (batch, 4+nc[+1], "anchors")
            if hint == "obb" or (nc and d1i == 4 + nc + 1):
                return "obb", "yolov8_obb"
            return "detection", "yolov8"
        if d1i is not None and d2i is not None and d1i > d2i:
            if hint == "semantic_segmentation" or (d1i == in_h and d2i == in_w and d1i > 64):
                return "semantic_segmentation", "seg_maps"
            return "detection", "yolov5"
        if hint in ("semantic_segmentation", "regression"):
            return hint, ("seg_maps" if hint == "semantic_segmentation" else "regression_map")
        if hint in ("detection", "obb"):
            if d1i is not None:  # (B, 4+nc[+1], anchors)
                return hint, _default_layout(hint, spec)
            if d2i is not None and hint == "detection":  # (B, N, 5+nc)
                return hint, "yolov5"
            raise UserInputError(
                tr(
                    "The model '{name}' is a detector, but its output shape {shape} does not say "
                    "which box layout it uses; set det_type in its metadata, or the layout in its "
                    "model card."
                ).format(name=Path(spec.path).name, shape=out)
            )
        return "semantic_segmentation", "seg_maps"  # (B, H, W) with dynamic dims
    if len(out) == 4:
        oh = out[2]
        if isinstance(oh, int) and isinstance(in_h, int) and oh > in_h and hint != "semantic_segmentation":
            return "superresolution", "image"
        if hint == "superresolution":
            return hint, "image"
        if hint == "regression":
            return "regression", "regression_map"
        return "semantic_segmentation", "seg_maps"
    if len(out) == 2:
        return "regression", "vector"
    return hint or "detection", _default_layout(hint or "detection", spec)


_ULTRA_LAYOUTS = {
    ("detection", False): "yolov8",
    ("detection", True): "end2end",
    ("obb", False): "yolov8_obb",
    ("obb", True): "end2end_obb",
    ("instance_segmentation", False): "yolov8_seg",
    ("instance_segmentation", True): "end2end_seg",
}


def _ultralytics_task_layout(spec: ModelSpec) -> tuple[str, str]:
    """(task, layout) of an Ultralytics export from its metadata; the output shapes only confirm.

    ``task`` decides the head; ``args.nms`` / ``end2end`` decide raw head vs NMS-included rows.
    Only when the export says neither (older versions) do the shapes choose between the two.
    """
    meta = spec.metadata
    raw = str(_py_literal(meta["task"])).strip()
    task = _ULTRA_TASKS.get(raw)
    if task is None:
        raise UserInputError(
            tr(
                "The model '{name}' is an Ultralytics '{task}' model; IdF HR runs detect, obb and "
                "segment models only. Export a detection, oriented-box or instance-segmentation model."
            ).format(name=Path(spec.path).name, task=raw)
        )
    if meta.get("_end2end"):
        end2end = True
    elif "end2end" in meta or (meta.get("_ultra_args") or {}).get("nms") is False:
        end2end = str(meta.get("end2end", "")).lower() == "true"
    else:
        end2end = _looks_end2end(spec, task)
    return task, _ULTRA_LAYOUTS[(task, end2end)]


def _looks_end2end(spec: ModelSpec, task: str) -> bool:
    """Rows (B, max_det, 6|7|6+nm) rather than a raw head (B, 4+nc+..., anchors)?"""
    pred = next((o.shape for o in spec.outputs if len(o.shape) == 3), None)
    if pred is None or not isinstance(pred[2], int):
        return False
    width = {"detection": (6,), "obb": (7,), "instance_segmentation": (6 + _n_masks(spec),)}[task]
    return pred[2] in width and (not isinstance(pred[1], int) or pred[1] > pred[2])


def _n_masks(spec: ModelSpec) -> int:
    protos = next((o.shape for o in spec.outputs if len(o.shape) == 4), None)
    return int(protos[1]) if protos is not None and isinstance(protos[1], int) else 32


def check_layout_shapes(spec: ModelSpec, task: str, layout: str) -> None:
    """Refuse a detector whose outputs contradict ``layout`` and its class count.

    Named (dynamic) dimensions pass here; the decoders check the real arrays at run time.
    """
    rows = layout in ("yolov5", "end2end", "end2end_obb", "end2end_seg")  # one row per box
    if layout not in _ULTRA_LAYOUTS.values() and not rows:
        return
    nc = spec.num_classes or None
    nm = _n_masks(spec)
    # values per box on the box axis: fixed for NMS rows, else given by the class count
    width = {"end2end": 6, "end2end_obb": 7, "end2end_seg": 6 + nm}
    if nc:
        width.update(yolov8=4 + nc, yolov8_obb=5 + nc, yolov8_seg=4 + nc + nm, yolov5=5 + nc)
    want = width.get(layout)
    seg = layout.endswith("_seg")
    axis = 2 if rows else 1
    expected = "(batch, boxes, {w})" if rows else "(batch, {w}, anchors)"
    unknown = {"yolov5": "5+nc", "yolov8_obb": "5+nc", "yolov8_seg": f"4+nc+{nm}"}.get(layout, "4+nc")
    expected = expected.format(w=want or unknown) + (f" + (batch, {nm}, h, w)" if seg else "")
    bad = sorted(len(o.shape) for o in spec.outputs) != ([3, 4] if seg else [3])
    if not bad and want is not None:
        dim = next(o.shape for o in spec.outputs if len(o.shape) == 3)[axis]
        bad = isinstance(dim, int) and dim != want
    if bad:
        classes = tr("{n} classes").format(n=nc) if nc else tr("an unknown number of classes")
        raise UserInputError(
            tr(
                "The model '{name}' declares the task '{task}' (layout {layout}) with {classes}, but "
                "its output shapes are {shapes} where {expected} is expected. The export and its metadata "
                "disagree, so its results would be wrong: export the model again, or set its task and "
                "layout in the model card."
            ).format(
                name=Path(spec.path).name,
                task=task,
                layout=layout,
                classes=classes,
                shapes=", ".join(str(tuple(o.shape)) for o in spec.outputs),
                expected=expected,
            )
        )


def _finish_classes(spec: ModelSpec) -> None:
    if spec.task == "semantic_segmentation":
        if not spec.seg_output_classes:
            per_out = []
            next_id = 0
            for o in spec.outputs:
                c = o.shape[1] if len(o.shape) == 4 and isinstance(o.shape[1], int) else 1
                m = {}
                for ch in range(c):
                    if c > 1 and ch == 0:
                        continue  # softmax background channel
                    label = spec.class_names.get(next_id, f"class_{next_id}")
                    m[ch] = (next_id, label)
                    next_id += 1
                per_out.append(m)
            spec.seg_output_classes = per_out
        else:
            # Deepness: for softmax outputs (C>1), channel 0 is the background and never vectorised
            for o, m in zip(spec.outputs, spec.seg_output_classes):
                c = o.shape[1] if len(o.shape) == 4 and isinstance(o.shape[1], int) else 1
                if c > 1:
                    m.pop(0, None)
            next_id = 0  # renumber: class ids stay contiguous once backgrounds are removed
            for m in spec.seg_output_classes:
                for ch in sorted(m):
                    m[ch] = (next_id, m[ch][1])
                    next_id += 1
        spec.class_names = {cid: label for m in spec.seg_output_classes for (cid, label) in m.values()}
    elif not spec.class_names and spec.task in ("detection", "obb", "instance_segmentation"):
        nc = _infer_nc(spec)
        spec.class_names = {i: f"class_{i}" for i in range(nc)}
    for cid in spec.class_names:
        spec.class_colors.setdefault(cid, stable_color(cid))


def _infer_nc(spec: ModelSpec) -> int:
    shape = spec.outputs[0].shape if spec.outputs else []
    if len(shape) != 3:
        return 1
    d1, d2 = shape[1], shape[2]
    lay = spec.layout
    if lay == "yolov8" and isinstance(d1, int):
        return max(1, d1 - 4)
    if lay == "yolov8_obb" and isinstance(d1, int):
        return max(1, d1 - 5)
    if lay == "yolov8_seg":
        pred = next((o.shape for o in spec.outputs if len(o.shape) == 3), shape)
        return max(1, int(pred[1]) - 36) if isinstance(pred[1], int) else 1
    if lay == "yolov5" and isinstance(d2, int):
        return max(1, d2 - 5)
    return 1


def overlap_px(spec: ModelSpec, tile_size: int) -> int:
    """Default overlap in pixels: card value, Deepness percent, else 10 % of the tile."""
    if spec.overlap_px is not None:
        return int(spec.overlap_px)
    pct = spec.metadata.get("_overlap_percent")
    if pct is not None:
        return int(round(tile_size * pct / 100.0))
    return max(0, int(round(tile_size * 0.1)))


# ---------------------------------------------------------------------------------- sessions


@dataclass
class SessionInfo:
    """What the run uses: provider(s) and threads (shown to the user and stored in the report)."""

    providers: list
    available: list
    intra_threads: int
    inter_threads: int = 1


def available_providers() -> list:
    """Execution providers ONNX Runtime offers on this machine (e.g. CUDA, CPU)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return []
    return list(ort.get_available_providers())


def physical_cores() -> int:
    """Number of physical CPU cores usable by this process (hyper-threads not counted)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    cores = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            phys = core = None
            for line in fh:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                elif not line.strip():
                    if core is not None:
                        cores.add((phys, core))
                    phys = core = None
            if core is not None:
                cores.add((phys, core))
    except OSError:
        pass
    n = len(cores) if cores else usable
    return max(1, min(n, usable))


def create_session(
    spec: ModelSpec | str | os.PathLike,
    *,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
):
    """Create an ONNX Runtime session tuned for CPU; returns ``(session, SessionInfo)``."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise UserInputError(
            tr("ONNX Runtime is not installed; install it from the plugin's model manager to run detections.")
        ) from exc
    path = spec.path if isinstance(spec, ModelSpec) else str(spec)
    avail = list(ort.get_available_providers())
    if providers is None:
        order = [
            "CUDAExecutionProvider",
            "DmlExecutionProvider",
            "CoreMLExecutionProvider",
            "CPUExecutionProvider",
        ]
        providers = [p for p in order if p in avail] or ["CPUExecutionProvider"]
    else:
        missing = [p for p in providers if p not in avail]
        if missing:
            raise UserInputError(
                tr("Execution provider(s) {missing} are not available here; available: {avail}.").format(
                    missing=", ".join(missing), avail=", ".join(avail)
                )
            )
    n = int(threads or physical_cores())
    so = ort.SessionOptions()
    so.intra_op_num_threads = n
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if os.environ.get("IDF_HR_ORT_SPIN", "1") == "0":
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        sess = ort.InferenceSession(path, sess_options=so, providers=list(providers))
    except Exception as exc:
        raise UserInputError(
            tr("ONNX Runtime cannot load the model '{path}': {err}").format(path=path, err=str(exc)[:300])
        ) from exc
    return sess, SessionInfo(providers=list(sess.get_providers()), available=avail, intra_threads=n)
