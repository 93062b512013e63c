"""Curated metropolitan themes: one click resolves to portal datasets, with a style hint.

The MGP names these themes on its open-data page: biodiversity, land-use planning, cultural
sites, light pollution, geothermal energy. The dataset ids below could NOT be checked against the
live portal (no network while this was written), so they sit in :data:`UNVERIFIED_DATASET_IDS`
and resolution falls back to a catalog text search on the theme's search terms: a renamed or
guessed-wrong dataset is found by its title. Users override ids per theme in the settings
(``overrides`` argument).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import IdfHrError, UserInputError
from ..i18n import tr
from ._util import best_matches, norm_text
from .ods import DatasetInfo, OdsPortal

LOG = logging.getLogger("idf_hr.opendata.themes")


@dataclass(frozen=True)
class StyleHint:
    """What the QGIS layer adapter needs to style a theme layer."""

    geometry: str  # "polygon" | "line" | "point"
    color: str  # hex fill / marker colour
    stroke: str = "#333333"
    symbol: str = "circle"  # marker name for points
    opacity: float = 0.6
    graduated_field: str | None = None
    ramp: str | None = None  # QGIS colour ramp name for graduated styles


@dataclass(frozen=True)
class ThemePreset:
    key: str
    label_fr: str
    label_en: str
    portal: str  # key of ods.PORTALS
    search_terms: tuple[str, ...]  # catalog text searches used when ids do not resolve
    style: StyleHint
    dataset_ids: tuple[str, ...] = field(default_factory=tuple)

    def label(self, lang: str = "fr") -> str:
        return self.label_fr if lang.startswith("fr") else self.label_en


# !!! UNVERIFIED: plausible ids, never checked against the live MGP portal. Resolution falls
# back to a catalog search on ``search_terms`` when any of these answers 404.
UNVERIFIED_DATASET_IDS: dict[str, tuple[str, ...]] = {
    "biodiversity": ("trame-verte-et-bleue-metropolitaine", "reservoirs-de-biodiversite"),
    "urbanism": ("schema-de-coherence-territoriale-scot-mgp",),
    "cultural_sites": ("sites-culturels-metropolitains",),
    "light_pollution": ("pollution-lumineuse-radiance-nocturne",),
    "geothermal": ("potentiel-geothermique-de-surface",),
}

THEMES: dict[str, ThemePreset] = {
    "biodiversity": ThemePreset(
        "biodiversity",
        "Biodiversité",
        "Biodiversity",
        "mgp",
        ("biodiversité", "trame verte"),
        StyleHint("polygon", "#4caf50", "#2e7d32", opacity=0.5),
        UNVERIFIED_DATASET_IDS["biodiversity"],
    ),
    "urbanism": ThemePreset(
        "urbanism",
        "Aménagement et urbanisme",
        "Land-use planning",
        "mgp",
        ("urbanisme", "aménagement"),
        StyleHint("polygon", "#ffb74d", "#e65100", opacity=0.4),
        UNVERIFIED_DATASET_IDS["urbanism"],
    ),
    "cultural_sites": ThemePreset(
        "cultural_sites",
        "Sites culturels",
        "Cultural sites",
        "mgp",
        ("culture", "sites culturels"),
        StyleHint("point", "#8e24aa", "#4a148c", symbol="star", opacity=1.0),
        UNVERIFIED_DATASET_IDS["cultural_sites"],
    ),
    "light_pollution": ThemePreset(
        "light_pollution",
        "Pollution lumineuse",
        "Light pollution",
        "mgp",
        ("pollution lumineuse", "radiance"),
        StyleHint("polygon", "#fdd835", "#000000", opacity=0.7, graduated_field="radiance", ramp="Inferno"),
        UNVERIFIED_DATASET_IDS["light_pollution"],
    ),
    "geothermal": ThemePreset(
        "geothermal",
        "Géothermie",
        "Geothermal energy",
        "mgp",
        ("géothermie", "geothermie"),
        StyleHint("polygon", "#e53935", "#b71c1c", opacity=0.5, graduated_field="potentiel", ramp="Reds"),
        UNVERIFIED_DATASET_IDS["geothermal"],
    ),
}


@dataclass
class ThemeResolution:
    theme: ThemePreset
    datasets: list[DatasetInfo]
    renamed: dict[str, str]  # configured id → id found by catalog search
    missing: list[str]  # configured ids neither found nor matched by search


def theme(key: str) -> ThemePreset:
    try:
        return THEMES[key]
    except KeyError:
        raise UserInputError(
            tr("Unknown theme {key}; known themes: {known}.").format(key=key, known=", ".join(THEMES))
        ) from None


def _search_candidates(portal: OdsPortal, preset: ThemePreset, wanted_id: str) -> list[DatasetInfo]:
    seen: dict[str, DatasetInfo] = {}
    words = wanted_id.replace("-", " ").replace("_", " ")
    for text in (words, *preset.search_terms):
        for ds in portal.search_datasets(text=text, geo_only=True, limit=20):
            seen.setdefault(ds.id, ds)
    return list(seen.values())


def resolve_theme(
    key: str, portal: OdsPortal, overrides: Mapping[str, list[str] | tuple[str, ...]] | None = None
) -> ThemeResolution:
    """Resolve a theme to datasets on ``portal``: configured ids first, catalog title search as fallback."""
    preset = theme(key)
    ids = tuple((overrides or {}).get(key) or preset.dataset_ids)
    found: list[DatasetInfo] = []
    renamed: dict[str, str] = {}
    missing: list[str] = []
    for ds_id in ids:
        try:
            found.append(portal.dataset(ds_id))
            continue
        except UserInputError:
            LOG.info("theme %s: dataset %s not found, searching the catalog", key, ds_id)
        candidates = [
            c for c in _search_candidates(portal, preset, ds_id) if c.id not in {f.id for f in found}
        ]
        if not candidates:
            missing.append(ds_id)
            continue
        target = ds_id.replace("-", " ")
        order = best_matches(target, [c.title for c in candidates]) or best_matches(
            target, [c.id.replace("-", " ") for c in candidates]
        )
        best = candidates[order[0]] if order else _closest(target, candidates)
        renamed[ds_id] = best.id
        found.append(best)
    if not found:
        raise IdfHrError(
            tr(
                "No dataset of the theme {theme} was found on {portal} (looked for {ids}). "
                "Set the dataset ids of this theme in the IdF HR settings."
            ).format(theme=preset.label_en, portal=portal.base_url, ids=", ".join(ids))
        )
    return ThemeResolution(preset, found, renamed, missing)


def _closest(target: str, candidates: list[DatasetInfo]) -> DatasetInfo:
    t = set(norm_text(target).split())

    def score(c: DatasetInfo) -> int:
        return len(t & set(norm_text(c.title + " " + c.id.replace("-", " ")).split()))

    return max(candidates, key=score)
