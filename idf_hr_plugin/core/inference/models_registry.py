"""The model manager (Qt-free): bundled models, a user models folder, import and verified download.

A model is an ``.onnx`` file with an optional sidecar card ``<model>.json`` next to it (licence,
training data, classes with colours, accuracy, sha256…). Bundled models live in
``resources/models``; the user's own in a folder the plugin owns (default
``cache_dir()/models``). Imports and downloads are staged under a temporary name in the user
folder, checked (readable model, sha256, ONNX Runtime session when available) and only then
moved into place, so a failure never leaves a half-copied model behind.

Shared models come from STAC catalogs whose items use the MLM extension (:class:`MlmCatalog`:
a static catalog folder/URL or a STAC API). They are listed with a card built from their MLM
fields before anything is downloaded, installed with their ``file:checksum`` verified, and keep
where they came from in their card (``source``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote, urlparse

from ..catalog.hrefs import href_to_local_path
from ..errors import Cancelled, IdfHrError, UserInputError
from ..http import HttpClient, default_client
from ..i18n import tr
from ..mlm.read import CatalogModel, model_from_item
from ..paths import RESOURCES_DIR, cache_dir
from .model import (
    ModelSpec,
    RuntimeMissing,
    available_providers,
    load_card,
    load_model_spec,
    physical_cores,
    sha256_file,
)

log = logging.getLogger(__name__)

BUNDLED_DIR = RESOURCES_DIR / "models"
_SHA_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_NAME_RE = re.compile(r"[^0-9A-Za-z_.-]+")


def default_user_dir() -> Path:
    """Default user models folder: ``cache_dir()/models``."""
    return cache_dir() / "models"


@dataclass
class ModelEntry:
    """One model the user can pick: where it is, where it comes from, its spec (or why not)."""

    path: Path
    origin: str  # "bundled" | "user" (a model installed from a catalog is a user model with a card "source")
    spec: Optional[ModelSpec] = None
    error: str = ""
    card: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.origin}:{self.path.name}"

    @property
    def name(self) -> str:
        if self.spec is not None:
            return self.spec.name
        return str(self.card.get("name") or self.path.stem)

    @property
    def ok(self) -> bool:
        return self.spec is not None

    def display_name(self) -> str:
        """Name shown in the model list: name, origin and, when unusable, that it is."""
        where = tr("bundled") if self.origin == "bundled" else tr("my models")
        if isinstance(self.card.get("source"), dict):
            where = tr("shared catalog")
        text = f"{self.name} ({where})"
        return text if self.ok else text + " — " + tr("unusable")

    def model_card(self) -> dict:
        """Everything shown before a run: task, classes + colours, GSD, input size, licence, …"""
        spec, card = self.spec, self.card
        classes = []
        if spec is not None:
            for cid, lab in sorted(spec.class_names.items()):
                cls = {"id": int(cid), "label": str(lab), "color": spec.class_colors.get(cid, "#888888")}
                labels = {lang: m[cid] for lang, m in spec.class_labels.items() if cid in m}
                if labels:  # names for people per language, e.g. {"fr": "Bâtiment"}
                    cls["labels"] = labels
                classes.append(cls)
        acc = card.get("accuracy", card.get("measured_accuracy"))
        limits = card.get("limits", card.get("known_limits"))
        if isinstance(limits, str):
            limits = [limits]
        return {
            "name": self.name,
            "origin": self.origin,
            "path": str(self.path),
            "sha256": spec.sha256 if spec else "",
            "task": spec.task if spec else "",
            "layout": spec.layout if spec else "",
            "convention": spec.convention if spec else "",
            "classes": classes,
            "gsd_m": spec.gsd_m if spec else card.get("gsd_m"),
            "input_size": list(spec.input_size) if spec else [],
            "channels": spec.channels if spec else None,
            "conf": spec.conf if spec else None,
            "iou": spec.iou if spec else None,
            "licence": str(card.get("licence") or card.get("license") or ""),
            "training_data": _text(card.get("training_data")),
            "accuracy": acc if acc is not None else {},
            "limits": list(limits or []),
            "description": _text(card.get("description")),
            "providers": available_providers(),
            "threads": physical_cores(),
            "error": self.error,
            "source": self.card.get("source") if isinstance(self.card.get("source"), dict) else {},
        }


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _safe_filename(name: str) -> str:
    base = _NAME_RE.sub("_", name).strip("._") or "model"
    return base if base.lower().endswith(".onnx") else base + ".onnx"


def _card_for(model: Path) -> Optional[Path]:
    for cand in (model.with_suffix(".json"), Path(str(model) + ".json")):
        if cand.is_file():
            return cand
    return None


def _remove(*paths: Optional[Path]) -> None:
    for p in paths:
        if p is not None:
            try:
                p.unlink()
            except OSError:
                pass


class ModelRegistry:
    """Bundled + user models; import from a file; download from a URL with a verified sha256."""

    def __init__(
        self,
        user_dir: str | os.PathLike | None = None,
        bundled_dir: str | os.PathLike | None = None,
        client: HttpClient | None = None,
        verify_session: bool = True,
    ) -> None:
        self.user_dir = Path(user_dir) if user_dir else default_user_dir()
        self.bundled_dir = Path(bundled_dir) if bundled_dir else BUNDLED_DIR
        self.client = client
        self.verify_session = verify_session
        self._cache: dict = {}  # path -> (mtime, size, card mtime, entry)

    # -- listing ---------------------------------------------------------------------------
    def entries(self) -> list:
        """Every model found (bundled first, then the user's), each with its spec or its error."""
        out = []
        for origin, folder in (("bundled", self.bundled_dir), ("user", self.user_dir)):
            if not folder.is_dir():
                continue
            for p in sorted(folder.glob("*.onnx")):
                if p.name.startswith("."):
                    continue
                out.append(self._entry(p, origin))
        return out

    def get(self, name_or_path: str) -> ModelEntry:
        """A model by name, file name, ``origin:file`` id or path."""
        p = Path(name_or_path)
        if p.suffix.lower() == ".onnx" and p.is_file():
            origin = "bundled" if p.resolve().parent == self.bundled_dir.resolve() else "user"
            return self._entry(p, origin)
        for e in self.entries():
            if name_or_path in (e.id, e.name, e.path.name, e.path.stem):
                return e
        raise UserInputError(
            tr("No model named '{name}' in the bundled models or in {folder}.").format(
                name=name_or_path, folder=self.user_dir
            )
        )

    def _entry(self, path: Path, origin: str) -> ModelEntry:
        try:
            st = path.stat()
            cp = _card_for(path)
            key = (st.st_mtime_ns, st.st_size, cp.stat().st_mtime_ns if cp else 0)
        except OSError as exc:
            return ModelEntry(path, origin, error=str(exc))
        hit = self._cache.get(str(path))
        if hit is not None and hit[0] == key:
            return hit[1]
        entry = ModelEntry(path, origin)
        try:
            entry.card = load_card(path)
            entry.spec = load_model_spec(path)
        except RuntimeMissing as exc:
            entry.error = str(exc)
            return entry  # not cached: the model is usable as soon as ONNX Runtime is installed
        except IdfHrError as exc:
            entry.error = str(exc)
        except Exception as exc:  # a broken file must not hide the other models
            entry.error = tr("The model cannot be read ({err}).").format(err=exc)
        self._cache[str(path)] = (key, entry)
        return entry

    # -- import ----------------------------------------------------------------------------
    def import_file(
        self, source: str | os.PathLike, card: str | os.PathLike | None = None, *, name: str | None = None
    ) -> ModelEntry:
        """Copy a model (and its card) into the user folder, atomically, after checking it loads."""
        src = Path(source)
        if not src.is_file():
            raise UserInputError(tr("The model file '{path}' does not exist.").format(path=src))
        card_src = Path(card) if card else _card_for(src)
        if card_src is not None and not card_src.is_file():
            raise UserInputError(tr("The model card '{path}' does not exist.").format(path=card_src))
        self.user_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.user_dir / f".import_{uuid.uuid4().hex[:10]}.onnx"
        tmp_card = tmp.with_suffix(".json")
        try:
            shutil.copyfile(src, tmp)
            if card_src is not None:
                shutil.copyfile(card_src, tmp_card)
            return self._install(tmp, tmp_card if card_src else None, name or src.name)
        except BaseException:
            _remove(tmp, tmp_card)
            raise

    # -- download --------------------------------------------------------------------------
    def download(
        self,
        url: str,
        sha256: str,
        *,
        name: str | None = None,
        card_url: str | None = None,
        card: dict | None = None,
        progress: Optional[Callable[[int, Optional[int]], None]] = None,
        cancel: Optional[Callable[[], bool]] = None,
    ) -> ModelEntry:
        """Download a model whose sha256 is known; a mismatch raises and keeps nothing.

        Its card comes from ``card_url``, or is ``card`` (e.g. built from an MLM item).
        """
        want = (sha256 or "").strip().lower()
        if not _SHA_RE.match(want):
            raise UserInputError(
                tr(
                    "Give the model's sha256 (64 hexadecimal characters) with its URL: the plugin "
                    "verifies every downloaded model before using it."
                )
            )
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https"):
            raise UserInputError(tr("'{url}' is not an http(s) URL.").format(url=url))
        fname = name or unquote(Path(parsed.path).name) or "model.onnx"
        client = self.client or default_client()
        self.user_dir.mkdir(parents=True, exist_ok=True)
        stem = f".download_{hashlib_short(url)}"
        tmp = self.user_dir / (stem + ".onnx")
        tmp_card = self.user_dir / (stem + ".json")
        try:
            client.download(url, tmp, sha256=want, progress=progress, cancel=cancel)
            if card_url:
                client.download(card_url, tmp_card, cancel=cancel)
            elif card is not None:
                tmp_card.write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
            if cancel is not None and cancel():
                raise Cancelled()
            has_card = bool(card_url) or card is not None
            return self._install(tmp, tmp_card if has_card else None, fname, expected_sha256=want)
        except Cancelled:
            _remove(tmp, tmp_card)  # the .part of an interrupted download stays for resuming
            raise
        except BaseException:
            _remove(tmp, tmp_card, tmp.with_name(tmp.name + ".part"))
            raise

    # -- shared catalogs (STAC MLM) ---------------------------------------------------------
    def install_from_catalog(
        self,
        model: CatalogModel,
        *,
        progress: Optional[Callable[[int, Optional[int]], None]] = None,
        cancel: Optional[Callable[[], bool]] = None,
    ) -> ModelEntry:
        """Install a model listed by an MLM catalog, its checksum verified; its card keeps its origin.

        Refused (nothing kept) when the item is incomplete, the model is not ONNX, the item
        gives no sha256 checksum, or the downloaded file does not match it.
        """
        if model.problems or model.cannot_run:
            raise UserInputError(model.status())
        if not model.sha256:
            raise UserInputError(
                tr(
                    "The catalog item of '{name}' gives no sha256 checksum (file:checksum) for its "
                    "model, so the download cannot be verified and was not started. Ask the "
                    "catalog's publisher to add it."
                ).format(name=model.name)
            )
        card = dict(model.card)
        if model.card_href:
            card = {**card, **self._catalog_card(model, cancel)}
        card["sha256"] = model.sha256
        card["source"] = {
            "kind": "stac-mlm",
            "catalog": model.source,
            "item": model.item_href,
            "item_id": model.id,
            "model": model.model_href,
            "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        fname = unquote(Path(urlparse(model.model_href).path).name) or "model.onnx"
        local = href_to_local_path(model.model_href)
        if local is None:
            return self.download(
                model.model_href, model.sha256, name=fname, card=card, progress=progress, cancel=cancel
            )
        if not local.is_file():
            raise UserInputError(
                tr("The model file {path} listed by the catalog does not exist.").format(path=local)
            )
        self.user_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.user_dir / f".import_{uuid.uuid4().hex[:10]}.onnx"
        tmp_card = tmp.with_suffix(".json")
        try:
            shutil.copyfile(local, tmp)
            tmp_card.write_text(json.dumps(card, indent=2, ensure_ascii=False), encoding="utf-8")
            return self._install(tmp, tmp_card, fname, expected_sha256=model.sha256)
        except BaseException:
            _remove(tmp, tmp_card)
            raise

    def _catalog_card(self, model: CatalogModel, cancel: Optional[Callable[[], bool]]) -> dict:
        """The publisher's sidecar card of a catalog model, checked against its checksum (``{}`` if unreadable)."""
        import hashlib

        try:
            local = href_to_local_path(model.card_href)
            if local is None:
                data = (self.client or default_client()).get(model.card_href, cancel=cancel).content
            else:
                data = local.read_bytes()
        except (OSError, IdfHrError) as exc:
            if isinstance(exc, Cancelled):
                raise
            log.warning("model card %s not read: %s", model.card_href, exc)
            return {}
        if model.card_sha256 and hashlib.sha256(data).hexdigest() != model.card_sha256:
            raise UserInputError(
                tr(
                    "The model card of '{name}' does not match the checksum its catalog item gives: "
                    "the catalog is inconsistent or was tampered with, so nothing was installed."
                ).format(name=model.name)
            )
        try:
            card = json.loads(data.decode("utf-8"))
        except ValueError:
            return {}
        return card if isinstance(card, dict) else {}

    # -- shared ----------------------------------------------------------------------------
    def _install(
        self, tmp: Path, tmp_card: Optional[Path], fname: str, expected_sha256: str | None = None
    ) -> ModelEntry:
        """Verify a staged model (+ card) and move it into place under ``fname``."""
        spec = load_model_spec(tmp, expected_sha256=expected_sha256)  # reads the staged <tmp>.json
        if self.verify_session:
            _check_session(spec)
        dest = self.user_dir / _safe_filename(fname)
        if dest.exists():
            if sha256_file(dest) == spec.sha256:
                if tmp_card is not None:  # same model: its new card replaces the old one
                    os.replace(tmp_card, dest.with_suffix(".json"))
                _remove(tmp, tmp_card)
                return self._entry(dest, "user")
            dest = self.user_dir / _safe_filename(f"{dest.stem}_{spec.sha256[:8]}")
        dest_card = dest.with_suffix(".json")
        if tmp_card is not None:
            os.replace(tmp_card, dest_card)
        elif dest_card.exists():
            dest_card.unlink()  # a stale card of another model would describe the wrong one
        os.replace(tmp, dest)
        self._cache.pop(str(dest), None)
        log.info("model installed: %s (%s)", dest, spec.sha256)
        return self._entry(dest, "user")

    def remove(self, entry: ModelEntry) -> None:
        """Delete a user model and its card (bundled models cannot be removed)."""
        if entry.origin != "user":
            raise UserInputError(tr("Bundled models cannot be removed."))
        _remove(entry.path, _card_for(entry.path))
        self._cache.pop(str(entry.path), None)


@dataclass
class MlmCatalog:
    """A model source: a STAC catalog whose items use the MLM extension.

    ``kind`` is ``stac-static`` (a ``catalog.json`` URL or a local catalog folder/file) or
    ``stac-api`` (the root URL of a STAC API).
    """

    url: str
    kind: str = "stac-static"
    name: str = ""
    warnings: list = field(default_factory=list)

    def models(self, client: HttpClient | None = None, cancel: Optional[Callable[[], bool]] = None) -> list:
        """Every MLM item of the catalog as a :class:`CatalogModel` (nothing downloaded).

        Items without MLM fields (imagery) are skipped; incomplete MLM items are listed with
        their missing fields named, models of other frameworks as "cannot run here".
        """
        from ..catalog.model import SearchQuery, SourceConfig

        config = SourceConfig(id="mlm", name=self.name or self.url, kind=self.kind, url=self._location())
        out = []
        if self.kind == "stac-api":
            from ..catalog.stac_api import StacApiSource

            api = StacApiSource(config, client)
            for item in api.search(SearchQuery(limit=10_000), cancel=cancel):
                if not _is_mlm(item.properties, []):
                    continue
                # the search answer is parsed for imagery; the item document keeps every asset field
                doc = api.client.get_json(item.self_href, cancel=cancel) if item.self_href else None
                if isinstance(doc, dict):
                    out.append(model_from_item(doc, item.self_href, source=self.url))
            return out
        if self.kind != "stac-static":
            raise UserInputError(
                tr("A model catalog is a static STAC catalog or a STAC API, not '{kind}'.").format(
                    kind=self.kind
                )
            )
        from ..catalog.stac_static import StaticStacSource

        static = StaticStacSource(config, client)
        for kind, doc, node in static._walk(cancel, want_items=True):
            if kind == "item" and _is_mlm(doc.get("properties"), doc.get("stac_extensions")):
                out.append(model_from_item(doc, node.href, source=self.url))
        self.warnings = list(static.warnings)
        return out

    def _location(self) -> str:
        loc = str(self.url or "").strip()
        if self.kind == "stac-static" and loc and not urlparse(loc).scheme.startswith("http"):
            p = Path(loc)
            if p.is_dir():
                loc = str(p / "catalog.json")
        return loc


def _is_mlm(props, extensions) -> bool:
    if any("/mlm/" in str(e) for e in extensions or []):
        return True
    return isinstance(props, dict) and any(str(k).startswith("mlm:") for k in props)


def hashlib_short(text: str) -> str:
    """12 hex chars identifying ``text`` (stable staging names, so downloads can resume)."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _check_session(spec: ModelSpec) -> None:
    """Create an ONNX Runtime session when ONNX Runtime is installed (else the metadata check is all)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return
    from .model import create_session

    create_session(spec, threads=1)


# ---------------------------------------------------------------------------------- estimates

DEFAULT_SECONDS_PER_MPX = 0.5  # a small CPU detector on 2 cores; refined by a quick timing


def estimate_run(
    spec: ModelSpec, area_m2: float, gsd_m: float | None = None, seconds_per_mpx: float | None = None
) -> dict:
    """Pixels and an approximate duration of a run over ``area_m2`` at the model's GSD.

    The rate is the card's ``seconds_per_mpx``, else ``seconds_per_mpx`` (a quick timing, see
    :func:`time_one_tile`), else :data:`DEFAULT_SECONDS_PER_MPX`.
    """
    gsd = float(gsd_m or spec.gsd_m or 0.2)
    pixels = int(round(area_m2 / (gsd * gsd)))
    rate = spec.card.get("seconds_per_mpx") if isinstance(spec.card, dict) else None
    if not isinstance(rate, (int, float)) or rate <= 0:
        rate = seconds_per_mpx or DEFAULT_SECONDS_PER_MPX
    return {"pixels": pixels, "gsd_m": gsd, "km2": area_m2 / 1e6, "seconds": pixels / 1e6 * float(rate)}


def time_one_tile(spec: ModelSpec, repeats: int = 2) -> float:
    """Seconds per megapixel measured on one blank tile (ONNX Runtime required)."""
    import numpy as np

    from .model import create_session

    sess, _info = create_session(spec)
    h, w = spec.input_size
    b = spec.fixed_batch or 1
    arr = np.zeros((b, spec.channels, int(h), int(w)), np.float32)
    sess.run(None, {spec.input.name: arr})  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        sess.run(None, {spec.input.name: arr})
    dt = (time.perf_counter() - t0) / repeats
    return dt / (b * h * w / 1e6)
