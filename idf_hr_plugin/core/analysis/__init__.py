"""Answers from detections (Qt-free): change between vintages, statistics per zone, GeoPackage I/O.

Typical chain::

    before = read_detections("run_2024.gpkg")           # Detections (+ run record, analysed area)
    after = read_detections("run_2026.gpkg")
    changes = compare_detections(before, after)          # ChangeResult, one record per object
    write_change_layer(changes, "changes.gpkg")
    stats = zonal_statistics(communes, names, changes.geometry, changes.columns["class"],
                             [changes.compared_area], zones_crs="EPSG:4326",
                             labels=changes.columns["label"], change=changes.columns["change"])
    stats.to_csv("stats.csv")
"""

from .change import (
    CONFIDENCE_FORMULA,
    STATUSES,
    ChangeResult,
    Detections,
    SegmentationChange,
    compare_detections,
    compare_segmentation,
)
from .errors import AnalysisError
from .io import read_detections, read_layer_metadata, read_runs_table, write_change_layer, write_layer
from .zonal import ASSIGNMENT_RULE, ZonalResult, assign_to_zones, zonal_statistics

__all__ = [
    "ASSIGNMENT_RULE",
    "CONFIDENCE_FORMULA",
    "STATUSES",
    "AnalysisError",
    "ChangeResult",
    "Detections",
    "SegmentationChange",
    "ZonalResult",
    "assign_to_zones",
    "compare_detections",
    "compare_segmentation",
    "read_detections",
    "read_layer_metadata",
    "read_runs_table",
    "write_change_layer",
    "write_layer",
    "zonal_statistics",
]
