"""Render a model card (``ModelEntry.model_card()``) as rich text shown before any run."""

from __future__ import annotations

import html
import json

from ..gis.i18n import num, tr, user_locale

_PROVIDER_NAMES = {
    "CPUExecutionProvider": "CPU",
    "CUDAExecutionProvider": "CUDA",
    "TensorrtExecutionProvider": "TensorRT",
    "DmlExecutionProvider": "DirectML",
    "CoreMLExecutionProvider": "CoreML",
    "OpenVINOExecutionProvider": "OpenVINO",
}


def provider_text(providers, threads: int) -> str:
    """'CPU, 2 threads' / 'CUDA, CPU, 2 threads' — what will run the model."""
    names = [_PROVIDER_NAMES.get(p, p.replace("ExecutionProvider", "")) for p in providers or []]
    if not names:
        return tr("ONNX Runtime not installed")
    if threads == 1:
        return tr("{providers}, 1 thread").format(providers=", ".join(names))
    return tr("{providers}, {n} threads").format(providers=", ".join(names), n=num(threads))


def task_text(task: str) -> str:
    """The model's task in the UI language (the card keeps the machine name)."""
    names = {
        "detection": tr("detection"),
        "segmentation": tr("segmentation"),
        "instance_segmentation": tr("instance segmentation"),
        "obb": tr("oriented boxes"),
        "classification": tr("classification"),
    }
    return names.get(task, task)


def class_label(cls: dict) -> str:
    """A card class's name for the reader (``labels`` of the sidecar card, else its name)."""
    return str((cls.get("labels") or {}).get(user_locale()) or cls.get("label", ""))


def _metric_name(name: str) -> str:
    """A card's accuracy metric in the UI language (unknown ones as written)."""
    names = {
        "precision": tr("precision"),
        "recall": tr("recall"),
        "f1": tr("F1 score"),
        "iou": tr("IoU"),
        "miou": tr("mean IoU"),
        "macro": tr("mean over the classes"),
    }
    return names.get(str(name).lower(), str(name))


def _accuracy_html(acc, classes=()) -> str:
    """Accuracy rows, with class and metric names in the UI language and numbers in its format."""
    if not acc:
        return html.escape(tr("not measured"))
    shown = {c.get("label"): class_label(c) for c in classes}
    if isinstance(acc, dict):
        rows = []
        for k, v in acc.items():
            name = html.escape(shown.get(k) or _metric_name(k))
            if isinstance(v, dict):
                parts = ", ".join(
                    f"{html.escape(_metric_name(m))} {num(v[m], 2)}"
                    if isinstance(v[m], (int, float))
                    else f"{html.escape(_metric_name(m))} {html.escape(str(v[m]))}"
                    for m in v
                )
                rows.append(tr("{name}: {values}").format(name=name, values=parts))
            else:
                value = num(v, 2) if isinstance(v, (int, float)) else html.escape(str(v))
                rows.append(tr("{name}: {values}").format(name=name, values=value))
        return "<br/>".join(rows)
    return html.escape(json.dumps(acc) if not isinstance(acc, str) else acc)


def card_html(card: dict) -> str:
    """HTML of the card: task, classes with colour swatches, GSD, input, licence, data, accuracy, limits."""
    if card.get("error") and card.get("origin") != "catalog":
        return "<b>{name}</b><br/><span style='color:#b00020'>{err}</span>".format(
            name=html.escape(card.get("name", "")), err=html.escape(card["error"])
        )
    swatches = " ".join(
        "<span style='background-color:{c};color:{c}'>&#9632;&#9632;</span>&nbsp;{lab}".format(
            c=html.escape(c["color"]), lab=html.escape(class_label(c))
        )
        for c in card.get("classes", [])
    )
    gsd = card.get("gsd_m")
    size = card.get("input_size") or []
    rows = [
        (tr("Task"), html.escape(f"{task_text(card.get('task', ''))} ({card.get('layout', '')})")),
        (tr("Classes"), swatches or "—"),
        (tr("Intended GSD"), html.escape(f"{num(gsd * 100)} cm" if gsd else tr("native resolution"))),
        (
            tr("Input"),
            html.escape(
                tr("{w}×{h} px, {c} channels").format(w=size[0], h=size[1], c=card.get("channels"))
                if len(size) == 2
                else "—"
            ),
        ),
        (tr("Licence"), html.escape(card.get("licence") or tr("not stated"))),
        (tr("Training data"), html.escape(card.get("training_data") or tr("not stated"))),
        (tr("Measured accuracy"), _accuracy_html(card.get("accuracy"), card.get("classes") or ())),
        (tr("Known limits"), "<br/>".join(html.escape(x) for x in card.get("limits") or []) or "—"),
        (tr("Runs on"), html.escape(provider_text(card.get("providers"), card.get("threads", 1)))),
        (tr("sha256"), "<code>" + html.escape((card.get("sha256") or "")[:16]) + "…</code>"),
    ]
    if card.get("origin") == "catalog":  # not downloaded yet: nothing runs it here
        rows = [r for r in rows if r[0] != tr("Runs on")]
    rows += _shared_rows(card)
    # each heading above its value: a two-column table is wider than a 420 px dock (issue 9)
    body = "".join(f"<p style='margin:2px 0'><b>{html.escape(k)}</b><br/>{v}</p>" for k, v in rows)
    text = "<b>{name}</b>{body}".format(name=html.escape(card.get("name", "")), body=body)
    if card.get("error"):  # a catalog model that cannot be installed: its card, then why
        text += "<span style='color:#b00020'>{err}</span>".format(err=html.escape(card["error"]))
    return text


def _shared_rows(card: dict) -> list:
    """Rows of a model shared through a STAC MLM catalog: its framework and where it comes from."""
    rows = []
    if card.get("origin") == "catalog":
        rows.append((tr("Framework"), html.escape(card.get("framework") or tr("not stated"))))
        if card.get("size_bytes"):
            rows.append(
                (
                    tr("Download size"),
                    html.escape(tr("{size} MB").format(size=num(card["size_bytes"] / 1e6, 1))),
                )
            )
    source = card.get("source") or {}
    if source.get("item"):
        rows.append((tr("Comes from"), html.escape(source.get("item", ""))))
    return rows
