"""Offline kits: one self-contained folder to work with the network off (trainers, field staff).

A kit is a plain folder that can be copied to another laptop or a USB stick::

    <kit>/<name>.qgz          QGIS project, relative paths
    <kit>/imagery/*.tif       imagery packs (COG), one per vintage
    <kit>/vectors/*.gpkg      boundaries, fibre coverage, open data (plain GeoPackages, QField-ready)
    <kit>/models/*.onnx       detection models with their cards (*.json)
    <kit>/kit.json            manifest: parts, sizes, sha256, sources, licences

It is planned first (:func:`plan_kit` gathers :class:`KitPart` s with a size estimate each), then
built by :func:`build_kit` in a hidden folder next to the target (``.<name>.kit-partial``),
renamed into place when complete. A failed or killed run leaves that hidden folder: running
again resumes, keeping the parts whose size and sha256 still match the manifest (an imagery pack
also resumes block by block, see :mod:`..tiles.offline`). A cancelled run removes it.
This module never imports QGIS: the project is written by a callback (``gis/offline_kit.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import Cancelled, UserInputError
from .fsutil import free_bytes
from .i18n import num, tr
from .paths import RESOURCES_DIR

LOG = logging.getLogger("idf_hr.offline_kit")

ProgressFn = Callable[[float, str], None]  # (fraction 0..1, message)
CancelFn = Callable[[], bool]
BuildFn = Callable[[Path, ProgressFn, CancelFn], None]  # writes the part at the given path
ProjectWriter = Callable[[Path, "KitPlan"], Path]  # (staging folder, plan) -> project file

MANIFEST = "kit.json"
MANIFEST_VERSION = 1
SPACE_MARGIN = 1.2  # free space asked for, relative to the estimate
# Share of the raw pixel bytes a lossless COG with overviews takes (DEFLATE on aerial imagery is
# ~0.6-0.8 of raw; overviews add a third). An upper bound, so the space check errs on the safe side.
COG_RAW_FACTOR = 1.1

LICENCE_OUVERTE = "Licence Ouverte / Open Licence 2.0 (Etalab)"
# Offline copies of the Licence Ouverte boundaries and ARCEP figures (scripts/bundle_open_data.py).
BUNDLED_DIR = RESOURCES_DIR / "opendata"
BUNDLED_BOUNDARIES = BUNDLED_DIR / "mgp_communes.gpkg"
BUNDLED_FTTH = BUNDLED_DIR / "ftth_mgp_communes.csv"
BUNDLED_INFO = "README.json"


def bundled_info(path: str | os.PathLike[str]) -> dict[str, str]:
    """Source, licence and vintage of a bundled file (empty for any other file)."""
    p = Path(path)
    try:
        if p.resolve().parent != BUNDLED_DIR.resolve():
            return {}
        return dict(json.loads((BUNDLED_DIR / BUNDLED_INFO).read_text(encoding="utf-8")).get(p.name) or {})
    except (OSError, ValueError):
        return {}


@dataclass
class KitPart:
    """One file of the kit (plus companions such as a model card) and how to build it."""

    key: str  # unique within the kit, e.g. "imagery-2026"
    kind: str  # imagery | vector | model
    relpath: str  # inside the kit, POSIX separators
    title: str  # layer name in the project
    estimate: int  # bytes
    build: BuildFn
    meta: dict[str, str] = field(default_factory=dict)  # source, licence, vintage…
    layer: str | None = None  # GeoPackage layer name
    companions: tuple[str, ...] = ()  # other files the build writes (relpaths), e.g. the model card
    style: str = ""  # a hint for the project writer: "boundaries", "fibre", "" (default)


@dataclass
class KitPlan:
    """What a kit will hold, for a zone of the MGP (or an extent)."""

    target: Path
    zone: str  # "Saint-Maur-des-Fossés (94068)", or the extent as text
    extent: tuple[float, float, float, float]
    crs: str
    parts: list[KitPart]

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def estimate(self) -> int:
        return sum(p.estimate for p in self.parts)

    def summary(self) -> str:
        """One line per part with its estimated size, then the total."""
        lines = [f"  {p.relpath:44} ~{human_size(p.estimate)}" for p in self.parts]
        lines.append(tr("Estimated size of the kit: {size}.").format(size=human_size(self.estimate)))
        return "\n".join(lines)


@dataclass
class KitResult:
    path: Path
    project: Path
    bytes: int
    parts_built: int
    parts_resumed: int
    seconds: float


def human_size(n: float) -> str:
    """1234567 -> '1.2 MB' (in French '1,2 Mo')."""
    units = (tr("B"), tr("kB"), tr("MB"), tr("GB"))
    for i, unit in enumerate(units):
        if n < 1000 or i == len(units) - 1:
            return f"{num(n)} {unit}" if i == 0 else f"{num(n, 1)} {unit}"
        n /= 1000
    return f"{num(n, 1)} {units[-1]}"


def staging_dir(target: str | os.PathLike[str]) -> Path:
    """The hidden folder where the kit bound for ``target`` is built (and resumed from)."""
    t = Path(target)
    return t.with_name(f".{t.name}.kit-partial")


def check_target(target: str | os.PathLike[str]) -> Path:
    """The absolute target folder; refuses an existing one unless empty (a kit never overwrites anything)."""
    t = Path(target).expanduser().resolve()
    if t.exists() and not (t.is_dir() and not any(t.iterdir())):
        raise UserInputError(
            tr(
                "{path} already exists: choose a new folder name for the kit (nothing was overwritten)."
            ).format(path=t)
        )
    if not t.parent.is_dir():
        raise UserInputError(
            tr("The folder {path} does not exist: create it or choose another place for the kit.").format(
                path=t.parent
            )
        )
    if not os.access(t.parent, os.W_OK):
        raise UserInputError(
            tr("Cannot write in {path}: choose a folder you can write to.").format(path=t.parent)
        )
    return t


def check_free_space(folder: str | os.PathLike[str], needed: int) -> None:
    """Refuse to start when ``folder``'s disk has less than the estimate (plus a margin) free."""
    free = free_bytes(folder)
    want = int(needed * SPACE_MARGIN)
    if free is not None and free < want:
        raise UserInputError(
            tr(
                "Not enough free disk space in {folder}: the kit needs about {need} and only {free} are "
                "free. Free some space, pick fewer vintages or a smaller zone, or choose another disk."
            ).format(folder=folder, need=human_size(want), free=human_size(free))
        )


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_manifest(stage: Path) -> dict[str, Any]:
    try:
        data = json.loads((stage / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if data.get("version") != MANIFEST_VERSION or not isinstance(data.get("parts"), dict):
        return {}
    return data


def _save_manifest(stage: Path, data: dict[str, Any]) -> None:
    tmp = stage / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, stage / MANIFEST)


def _files_of(part: KitPart) -> list[str]:
    return [part.relpath, *part.companions]


def _verified(stage: Path, part: KitPart, entry: dict[str, Any] | None) -> bool:
    """Whether a part recorded as done is still intact (same files, sizes and sha256)."""
    if not entry:
        return False
    files = entry.get("files") or {}
    if sorted(files) != sorted(_files_of(part)):
        return False
    for rel, info in files.items():
        path = stage / rel
        if not path.is_file() or path.stat().st_size != info.get("bytes"):
            return False
        if sha256_file(path) != info.get("sha256"):
            return False
    return True


def build_kit(
    plan: KitPlan,
    write_project: ProjectWriter,
    progress: ProgressFn | None = None,
    cancel: CancelFn | None = None,
) -> KitResult:
    """Build ``plan`` into ``plan.target``: all parts, then the project; see the module doc."""
    t0 = time.monotonic()
    say = progress or (lambda _f, _m: None)
    is_cancelled = cancel or (lambda: False)
    target = check_target(plan.target)
    stage = staging_dir(target)
    manifest = _load_manifest(stage) if stage.is_dir() else {}
    if manifest.get("target") not in (None, str(target)) or manifest.get("zone") not in (None, plan.zone):
        manifest = {}  # a partial kit of another zone: start over
    done: dict[str, Any] = dict(manifest.get("parts") or {})
    kept = {p.key for p in plan.parts if _verified(stage, p, done.get(p.key))}
    done = {k: v for k, v in done.items() if k in kept}
    todo = [p for p in plan.parts if p.key not in kept]
    check_free_space(target.parent, sum(p.estimate for p in todo))
    stage.mkdir(exist_ok=True)
    manifest = {
        "version": MANIFEST_VERSION,
        "target": str(target),
        "zone": plan.zone,
        "extent": list(plan.extent),
        "crs": plan.crs,
        "parts": done,
    }
    _save_manifest(stage, manifest)
    total = max(1, sum(p.estimate for p in plan.parts))
    base = sum(p.estimate for p in plan.parts if p.key in kept)
    if kept:
        LOG.info("offline kit %s: resuming, %d part(s) already complete", target.name, len(kept))
    try:
        for part in todo:
            if is_cancelled():
                raise Cancelled()
            start = base

            def part_progress(f: float, msg: str = "", _start=start, _part=part) -> None:
                frac = 0.95 * (_start + max(0.0, min(1.0, f)) * _part.estimate) / total
                say(frac, msg or tr("Preparing {name}…").format(name=_part.relpath))

            part_progress(0.0, tr("Preparing {name}…").format(name=part.relpath))
            dest = stage / part.relpath
            dest.parent.mkdir(parents=True, exist_ok=True)
            part.build(dest, part_progress, is_cancelled)
            files = {}
            for rel in _files_of(part):
                path = stage / rel
                if not path.is_file():
                    raise UserInputError(
                        tr("The kit part {name} was not written; run the kit again to retry.").format(
                            name=rel
                        )
                    )
                files[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
            done[part.key] = {"kind": part.kind, "title": part.title, "meta": part.meta, "files": files}
            _save_manifest(stage, manifest)
            base += part.estimate
        if is_cancelled():
            raise Cancelled()
        say(0.96, tr("Writing the QGIS project…"))
        project = write_project(stage, plan)
    except Cancelled:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    manifest["project"] = project.name
    manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    _save_manifest(stage, manifest)
    size = sum(f.stat().st_size for f in stage.rglob("*") if f.is_file())
    if target.is_dir():
        target.rmdir()  # an empty folder picked for the kit (checked above)
    os.replace(stage, target)
    say(1.0, tr("Offline kit ready: {path}").format(path=target))
    return KitResult(
        path=target,
        project=target / project.name,
        bytes=size,
        parts_built=len(todo),
        parts_resumed=len(kept),
        seconds=time.monotonic() - t0,
    )


def resolve_zone(boundaries: Any, text: str) -> tuple[str, list[str], tuple[float, float, float, float]]:
    """(label, INSEE codes, Lambert-93 bbox) of a commune or EPT given by name or code."""
    from .opendata.boundaries import Commune

    try:
        item = boundaries.find(text)
    except UserInputError as exc:
        raise UserInputError(
            tr(
                'No commune or EPT of the Métropole du Grand Paris matches "{name}": check the spelling, '
                "use the INSEE code or the EPT id (T1 to T12), or give an extent instead."
            ).format(name=text)
        ) from exc
    if isinstance(item, Commune):
        label, codes = f"{item.nom} ({item.insee})", [item.insee]
    else:
        label, codes = f"{item.nom} ({item.id})", list(item.communes)
    return label, codes, boundaries.bbox(codes[0] if len(codes) == 1 else item.id, 2154)


def codes_in_extent(boundaries: Any, extent: Sequence[float]) -> list[str]:
    """INSEE codes of the communes whose Lambert-93 bbox meets ``extent`` (Lambert-93)."""
    out = []
    for c in boundaries.communes:
        if not c.geometry:
            continue
        x0, y0, x1, y1 = boundaries.bbox(c.insee, 2154)
        if x0 < extent[2] and x1 > extent[0] and y0 < extent[3] and y1 > extent[1]:
            out.append(c.insee)
    return out


# -- parts ------------------------------------------------------------------------------------
def imagery_part(
    source: str,
    extent: Sequence[float],
    crs: str,
    relpath: str,
    title: str,
    meta: dict[str, str] | None = None,
    key: str | None = None,
) -> KitPart:
    """A COG pack of ``extent`` of a GDAL-readable ``source`` (estimate from its pixels in the extent)."""
    from .tiles.offline import download_pack

    estimate = estimate_raster_bytes(source, extent, crs)
    metadata = dict(meta or {})

    def build(dest: Path, progress: ProgressFn, cancel: CancelFn) -> None:
        download_pack(
            source,
            tuple(extent),
            crs,
            dest,
            fmt="COG",
            metadata=metadata,
            progress=progress,
            cancel=cancel,
        )

    return KitPart(key or f"imagery:{relpath}", "imagery", relpath, title, estimate, build, metadata)


def estimate_raster_bytes(source: str, extent: Sequence[float], crs: str) -> int:
    """Raw bytes of ``source``'s native pixels inside ``extent`` × :data:`COG_RAW_FACTOR`."""
    import numpy as np
    import rasterio
    from rasterio.warp import transform_bounds

    from .tiles.offline import GDAL_ERRORS, GDAL_HTTP_ENV

    try:
        with rasterio.Env(**GDAL_HTTP_ENV), rasterio.open(source) as src:
            bounds = transform_bounds(crs, src.crs, *extent) if src.crs else tuple(extent)
            left, bottom = max(bounds[0], src.bounds.left), max(bounds[1], src.bounds.bottom)
            right, top = min(bounds[2], src.bounds.right), min(bounds[3], src.bounds.top)
            if right <= left or top <= bottom:
                raise UserInputError(
                    tr("The imagery {source} does not cover the kit's zone: pick another vintage.").format(
                        source=source
                    )
                )
            px = ((right - left) / abs(src.res[0])) * ((top - bottom) / abs(src.res[1]))
            depth = max(np.dtype(dt).itemsize for dt in src.dtypes)
            return int(px * src.count * depth * COG_RAW_FACTOR) + (1 << 16)
    except GDAL_ERRORS as exc:
        raise UserInputError(
            tr("Cannot read the imagery {source} to estimate the kit: {error}").format(
                source=source, error=exc
            )
        ) from exc


def boundaries_part(boundaries: Any, insee_codes: Sequence[str], relpath: str = "vectors/boundaries.gpkg"):
    """The communes of the zone (with their EPT) as a plain GeoPackage layer ``communes`` (WGS84)."""
    from .opendata import gpkgio

    codes = set(insee_codes)
    communes = [c for c in boundaries.communes if c.insee in codes]
    feats = [
        {
            "geometry": c.geometry,
            "properties": {
                "code": c.insee,
                "nom": c.nom,
                "dep": c.dep,
                "ept_id": c.ept_id,
                "ept_nom": c.ept_nom,
            },
        }
        for c in communes
        if c.geometry
    ]
    if not feats:
        raise UserInputError(tr("The boundaries have no contour for this zone: check the boundaries file."))
    fields = [("code", "str"), ("nom", "str"), ("dep", "str"), ("ept_id", "str"), ("ept_nom", "str")]
    when = boundaries.retrieved_at.date().isoformat() if boundaries.retrieved_at else ""
    meta = {
        "title": tr("Communes (MGP boundaries)"),
        "source_url": boundaries.source,
        "licence": LICENCE_OUVERTE,
        "vintage": when,
    }
    meta.update({k: v for k, v in bundled_info(boundaries.source).items() if k != "title"})

    def build(dest: Path, progress: ProgressFn, cancel: CancelFn) -> None:
        gpkgio.write_features_gpkg(dest, "communes", feats, fields, metadata=meta)

    est = len(json.dumps(feats)) + (200 << 10)
    return KitPart(
        "boundaries", "vector", relpath, meta["title"], est, build, meta, "communes", style="boundaries"
    )


def fibre_part(
    ftth_path: str | os.PathLike[str],
    premises_path: str | os.PathLike[str] | None,
    boundaries: Any,
    insee_codes: Sequence[str],
    aliases: dict[str, Sequence[str]] | None = None,
    relpath: str = "vectors/fibre_coverage.gpkg",
) -> KitPart:
    """FttH coverage per commune of the zone and quarter (ARCEP), as a plain GeoPackage layer."""
    from .opendata import arcep
    from .opendata.boundaries import Boundaries

    codes = set(insee_codes)
    ftth = arcep.load_ftth(ftth_path, aliases)
    premises = arcep.load_premises(premises_path, aliases) if premises_path else None
    if premises is None and not ftth.premises:
        raise UserInputError(
            tr(
                "The FttH file has no premises column and no premises file was given: add the ARCEP "
                "communes file (Logements, Établissements) to put the fibre layer in the kit."
            )
        )
    zone = Boundaries(
        [c for c in boundaries.communes if c.insee in codes], boundaries.retrieved_at, boundaries.source
    )
    result = arcep.compute_coverage(ftth, premises, zone.communes, None)
    if not result.communes:
        raise UserInputError(
            tr("The FttH file has no figures for the communes of this zone: check that it covers the MGP.")
        )
    meta = {
        "title": tr("FttH coverage by commune (ARCEP)"),
        "source_url": "ARCEP, Le marché du haut et très haut débit fixe (déploiements)",
        "licence": LICENCE_OUVERTE,
        "vintage": ", ".join(result.quarters),
    }
    meta.update({k: v for k, v in bundled_info(ftth_path).items() if k in ("source_url", "licence")})

    def build(dest: Path, progress: ProgressFn, cancel: CancelFn) -> None:
        arcep.write_coverage_gpkg(result, zone, dest, level="commune")

    est = 100_000 + 30_000 * len(result.communes)
    return KitPart(
        "fibre", "vector", relpath, meta["title"], est, build, meta, "ftth_coverage_commune", style="fibre"
    )


def vector_part(
    src: str | os.PathLike[str],
    title: str,
    meta: dict[str, str] | None = None,
    src_layer: str | None = None,
) -> KitPart:
    """An open-data layer (a cached GeoPackage or any OGR file) converted to a plain GeoPackage."""
    from .opendata import gpkgio

    path = Path(src)
    if not path.is_file():
        raise UserInputError(tr("The open-data file {path} does not exist.").format(path=path))
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in path.stem)[:60] or "layer"
    layer = stem.lower()
    metadata = {"title": title, **(meta or {})}

    def build(dest: Path, progress: ProgressFn, cancel: CancelFn) -> None:
        gpkgio.convert_to_gpkg(path, dest, layer, metadata=metadata, src_layer=src_layer)

    return KitPart(
        f"opendata:{stem}",
        "vector",
        f"vectors/{stem}.gpkg",
        title,
        2 * path.stat().st_size + 100_000,
        build,
        metadata,
        layer,
    )


def model_part(model: str | os.PathLike[str]) -> KitPart:
    """An ONNX model and its card (``<model>.json``), copied as they are; the card is required."""
    path = Path(model)
    card = path.with_suffix(".json")
    if not path.is_file():
        raise UserInputError(tr("The model {path} does not exist.").format(path=path))
    if not card.is_file():
        raise UserInputError(
            tr("The model {name} has no card ({card}): a kit carries each model with its card.").format(
                name=path.name, card=card.name
            )
        )
    try:
        info = json.loads(card.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserInputError(
            tr("The model card {card} is not valid JSON: {error}").format(card=card, error=exc)
        ) from exc
    expected = str(info.get("sha256") or "").lower()
    if expected and sha256_file(path) != expected:
        raise UserInputError(
            tr(
                "The model {name} does not match the sha256 of its card: it is damaged or not the one the card "
                "describes. Download it again."
            ).format(name=path.name)
        )
    meta = {
        "title": str(info.get("name") or path.stem),
        "licence": str(info.get("license") or info.get("licence") or ""),
    }

    def build(dest: Path, progress: ProgressFn, cancel: CancelFn) -> None:
        for src, out in ((card, dest.with_suffix(".json")), (path, dest)):
            tmp = out.with_name(f".{out.name}.part")
            shutil.copyfile(src, tmp)
            os.replace(tmp, out)

    rel = f"models/{path.name}"
    return KitPart(
        f"model:{path.name}",
        "model",
        rel,
        meta["title"],
        path.stat().st_size + card.stat().st_size,
        build,
        meta,
        companions=(f"models/{card.name}",),
    )
