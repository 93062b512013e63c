"""Read an MLM item into what the model manager shows before download (and installs after)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from ..i18n import tr
from .fields import MLM_TO_TASK, MODEL_ROLE, NS, REQUIRED_PROPERTIES, sha256_of_multihash


@dataclass
class CatalogModel:
    """One model listed by an MLM catalog: its card (from the MLM fields), where it is, and whether it runs here."""

    id: str
    name: str
    item_href: str
    model_href: str = ""
    card_href: str = ""
    card_sha256: Optional[str] = None
    framework: str = ""
    sha256: Optional[str] = None
    size: Optional[int] = None
    card: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)  # missing/invalid MLM fields, one sentence each
    cannot_run: str = ""  # why this model cannot run in the plugin (other framework), else ""
    source: str = ""  # the catalog it was listed from

    @property
    def usable(self) -> bool:
        return not self.problems and not self.cannot_run

    def display_name(self) -> str:
        """Name in the model manager's list, with what stops it from being installed."""
        text = f"{self.name} ({tr('catalog')})"
        if self.problems:
            return text + " — " + tr("invalid MLM item")
        if self.cannot_run:
            return text + " — " + tr("cannot run here")
        return text

    def model_card(self) -> dict:
        """The card shown before download, with the keys of ``ModelEntry.model_card()``."""
        c = self.card
        classes = [
            {"id": int(k["id"]), "label": str(k["name"]), "color": str(k.get("color") or "#888888")}
            for k in c.get("classes") or []
        ]
        size = c.get("input_size") or []
        return {
            "name": self.name,
            "origin": "catalog",
            "path": self.model_href,
            "sha256": self.sha256 or "",
            "task": c.get("task") or ", ".join(c.get("mlm_tasks") or []),
            "layout": c.get("layout") or c.get("architecture") or "",
            "framework": self.framework,
            "classes": classes,
            "gsd_m": c.get("gsd_m"),
            "input_size": list(size),
            "licence": str(c.get("licence") or ""),
            "description": str(c.get("description") or ""),
            "size_bytes": self.size,
            "error": self.status(),
            "source": {"kind": "stac-mlm", "catalog": self.source, "item": self.item_href},
        }

    def status(self) -> str:
        """One paragraph: why it cannot be installed, or empty."""
        if self.problems:
            return tr("This MLM item cannot be used: {problems}").format(problems="; ".join(self.problems))
        return self.cannot_run


def missing_fields(doc: Any) -> list:
    """The required MLM fields an item lacks or gets wrong, one sentence per field (empty when complete)."""
    if not isinstance(doc, dict):
        return [tr("the document is not a JSON object")]
    props = doc.get("properties") if isinstance(doc.get("properties"), dict) else {}
    out = []
    for key in REQUIRED_PROPERTIES:
        if key not in props:
            out.append(tr("{field} is missing").format(field=key))
    if "mlm:name" in props and not (isinstance(props["mlm:name"], str) and props["mlm:name"].strip()):
        out.append(tr("{field} must be a non-empty text").format(field="mlm:name"))
    for key in ("mlm:tasks", "mlm:input", "mlm:output"):
        if key in props and not isinstance(props[key], list):
            out.append(tr("{field} must be a list").format(field=key))
    inputs = props.get("mlm:input")
    if isinstance(inputs, list) and inputs:
        first = inputs[0] if isinstance(inputs[0], dict) else {}
        structure = first.get("input") if isinstance(first.get("input"), dict) else {}
        for key in ("shape", "dim_order", "data_type"):
            if key not in structure:
                out.append(tr("{field} is missing").format(field=f"mlm:input[0].input.{key}"))
    assets = doc.get("assets") if isinstance(doc.get("assets"), dict) else {}
    model = _model_asset(assets)
    if model is None:
        out.append(tr("no asset has the role {role}").format(role=MODEL_ROLE))
    else:
        if not model[1].get("href"):
            out.append(tr("{field} is missing").format(field=f"assets.{model[0]}.href"))
        if not model[1].get("mlm:artifact_type"):
            out.append(tr("{field} is missing").format(field=f"assets.{model[0]}.mlm:artifact_type"))
    return out


def _model_asset(assets: dict) -> Optional[tuple]:
    for key, a in assets.items():
        if isinstance(a, dict) and MODEL_ROLE in (a.get("roles") or []):
            return key, a
    return None


def _runs_here(framework: str, artifact: str, href: str) -> bool:
    if framework:
        return framework.strip().lower() in ("onnx", "onnxruntime", "onnx runtime")
    return artifact.lower().startswith("onnx") or href.lower().split("?")[0].endswith(".onnx")


def _card(props: dict, item: dict) -> dict:
    """A sidecar-style card (the keys ``load_card`` users know) from the MLM fields."""
    card: dict[str, Any] = {"name": str(props.get("mlm:name") or item.get("id") or "")}
    for src, dst in (
        ("version", "version"),
        ("description", "description"),
        ("mlm:architecture", "architecture"),
    ):
        if props.get(src):
            card[dst] = str(props[src])
    tasks = props.get("mlm:tasks") if isinstance(props.get("mlm:tasks"), list) else []
    task = props.get(NS + "task") or next((MLM_TO_TASK[t] for t in tasks if t in MLM_TO_TASK), "")
    if task:
        card["task"] = str(task)
    if props.get(NS + "layout"):
        card["layout"] = str(props[NS + "layout"])
    card["mlm_tasks"] = [str(t) for t in tasks]
    card["framework"] = str(props.get("mlm:framework") or "")
    licence = props.get(NS + "licence") or props.get("license")
    if licence:
        card["licence"] = str(licence)
    gsd = props.get("gsd")
    if isinstance(gsd, (int, float)) and gsd > 0:
        card["gsd_m"] = float(gsd)
    inputs = props.get("mlm:input") if isinstance(props.get("mlm:input"), list) else []
    first = inputs[0] if inputs and isinstance(inputs[0], dict) else {}
    structure = first.get("input") if isinstance(first.get("input"), dict) else {}
    shape = structure.get("shape") if isinstance(structure.get("shape"), list) else []
    order = structure.get("dim_order") if isinstance(structure.get("dim_order"), list) else []
    if "height" in order and "width" in order and len(shape) == len(order):
        hh, ww = shape[order.index("height")], shape[order.index("width")]
        if isinstance(hh, int) and isinstance(ww, int) and hh > 0 and ww > 0:
            card["input_size"] = [hh, ww]
    bands = first.get("bands") if isinstance(first.get("bands"), list) else []
    if bands:
        card["bands"] = [b if isinstance(b, str) else str(b.get("name")) for b in bands if b]
    scaling = first.get("value_scaling") if isinstance(first.get("value_scaling"), list) else []
    zs = [s for s in scaling if isinstance(s, dict) and s.get("type") == "z-score"]
    if zs and len(zs) == len(scaling):
        card["mean"] = [float(s["mean"]) / 255.0 for s in zs]
        card["std"] = [float(s["stddev"]) / 255.0 for s in zs]
    outputs = props.get("mlm:output") if isinstance(props.get("mlm:output"), list) else []
    classes = []
    for out in outputs:
        if not isinstance(out, dict):
            continue
        raw = out.get("classification:classes") or out.get("classification_classes") or []
        for c in raw if isinstance(raw, list) else []:
            if not isinstance(c, dict) or not isinstance(c.get("value"), int):
                continue
            entry = {"id": int(c["value"]), "name": str(c.get("name") or c.get("description") or c["value"])}
            if isinstance(c.get("idfhr:labels"), dict):
                entry["labels"] = {str(k): str(v) for k, v in c["idfhr:labels"].items()}
            hint = c.get("color_hint")
            if isinstance(hint, str) and len(hint) == 6:
                entry["color"] = "#" + hint.lower()
            elif isinstance(hint, list) and len(hint) == 3:
                entry["color"] = "#" + "".join(f"{int(v):02x}" for v in hint)
            classes.append(entry)
        if classes:
            break
    if classes:
        card["classes"] = classes
    for key in ("conf", "iou"):
        if isinstance(props.get(NS + key), (int, float)):
            card[key] = float(props[NS + key])
    for key in ("tile_size", "overlap_px"):
        if isinstance(props.get(NS + key), int):
            card[key] = int(props[NS + key])
    if isinstance(props.get("mlm:total_parameters"), int):
        card["params"] = int(props["mlm:total_parameters"])
    return card


def model_from_item(doc: dict, item_href: str, source: str = "") -> CatalogModel:
    """A :class:`CatalogModel` from an MLM item; asset hrefs are resolved against ``item_href``.

    An incomplete item is still returned, its ``problems`` naming each missing field.
    """
    from ..catalog.hrefs import resolve_href
    from ..errors import UserInputError

    problems = missing_fields(doc)
    props = doc.get("properties") if isinstance(doc, dict) and isinstance(doc.get("properties"), dict) else {}
    assets = doc.get("assets") if isinstance(doc, dict) and isinstance(doc.get("assets"), dict) else {}
    card = _card(props, doc if isinstance(doc, dict) else {})
    cm = CatalogModel(
        id=str(doc.get("id") if isinstance(doc, dict) else "") or card["name"],
        name=card["name"] or str(doc.get("id", "?")),
        item_href=item_href,
        card=card,
        problems=problems,
        source=source,
    )
    found = _model_asset(assets)
    if found is not None:
        key, asset = found
        try:
            cm.model_href = resolve_href(str(asset.get("href") or ""), item_href) if asset.get("href") else ""
        except UserInputError as exc:
            problems.append(str(exc))
        cm.framework = str(props.get("mlm:framework") or asset.get("mlm:framework") or "")
        if not _runs_here(cm.framework, str(asset.get("mlm:artifact_type") or ""), cm.model_href):
            cm.cannot_run = tr(
                "This model is made for {framework}; the plugin runs ONNX models only, so it cannot "
                "run here. Ask its publisher for an ONNX export."
            ).format(framework=cm.framework or str(asset.get("mlm:artifact_type") or "?"))
        checksum = asset.get("file:checksum")
        cm.sha256 = sha256_of_multihash(checksum) or (str(props.get(NS + "sha256") or "").lower() or None)
        if isinstance(asset.get("file:size"), int):
            cm.size = int(asset["file:size"])
        if cm.sha256:
            card["sha256"] = cm.sha256
        if cm.size:
            card["size_bytes"] = cm.size
    side = assets.get("card")
    if isinstance(side, dict) and side.get("href"):
        try:
            cm.card_href = resolve_href(str(side["href"]), item_href)
            cm.card_sha256 = sha256_of_multihash(side.get("file:checksum"))
        except UserInputError:
            cm.card_href = ""
    return cm
