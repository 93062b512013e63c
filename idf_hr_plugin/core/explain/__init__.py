""" "Why this detection?": the crop the model saw, its scores, its provenance, and an occlusion map.

Qt-free: the CLI ``explain`` command and the QGIS map tool both use :func:`explain_feature` and
:func:`occlusion_map`; :mod:`.render` turns the result into pictures.
"""

from __future__ import annotations

from .explain import Explanation, OcclusionMap, View, explain_feature, occlusion_map

__all__ = ["Explanation", "OcclusionMap", "View", "explain_feature", "occlusion_map"]
