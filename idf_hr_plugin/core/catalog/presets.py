"""Built-in catalog presets (data only): IGN Géoplateforme WMTS ortho layers, regional THR catalog.

Layer names checked against IGN's public documentation ("Services web experts – Ortho" on
geoservices.ign.fr) and IGN's geoportal configuration (``orthoConfig.json``).
"""

from __future__ import annotations

import re

IGN_SOURCE_ID = "ign-geoplateforme"
IGN_WMTS_URL = "https://data.geopf.fr/wmts?SERVICE=WMTS&REQUEST=GetCapabilities"
IGN_HOST = "data.geopf.fr"
IGN_ATTRIBUTION = "IGN – Géoplateforme"
IGN_LICENSE = "Licence Ouverte / Open Licence 2.0 (Etalab)"

#: Ortho layers of interest, by exact identifier.
IGN_ORTHO_LAYERS = (
    "ORTHOIMAGERY.ORTHOPHOTOS",  # current mosaic (« Photographies aériennes »)
    "ORTHOIMAGERY.ORTHOPHOTOS.IRC",  # current infrared colour
    "HR.ORTHOIMAGERY.ORTHOPHOTOS",  # BD ORTHO® 20 cm
    "THR.ORTHOIMAGERY.ORTHOPHOTOS",  # very high resolution (5–10 cm where flown)
    "PCRS.LAMB93",  # PCRS 5 cm, Lambert-93
    "ORTHOIMAGERY.ORTHOPHOTOS.BDORTHO",  # BD ORTHO® 50 cm
)

#: Yearly vintages: ORTHOIMAGERY.ORTHOPHOTOS2021, …IRC.2024, ORTHO-EXPRESS.2025, ranges 2000-2005.
IGN_ORTHO_VINTAGE_RE = re.compile(
    r"^ORTHOIMAGERY\.ORTHOPHOTOS(?:\.(?:IRC|ORTHO-EXPRESS|IRC-EXPRESS)\.)?"
    r"(?:19|20)\d\d(?:-(?:19|20)\d\d)?$"
)


def is_ign_ortho_layer(identifier: str) -> bool:
    """True for the IGN ortho layers IdF HR lists (current, IRC, HR, THR, PCRS, yearly vintages)."""
    return identifier in IGN_ORTHO_LAYERS or bool(IGN_ORTHO_VINTAGE_RE.match(identifier))


REGIONAL_THR_SOURCE_ID = "thr-regional"
REGIONAL_THR_NAME = "Catalogue THR régional (URL à renseigner)"
DEMO_SOURCE_ID = "demo"
DEMO_NAME = "Région de démonstration (synthétique)"
