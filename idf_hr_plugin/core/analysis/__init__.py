"""Answers from detections (Qt-free): change between vintages, statistics per zone, GeoPackage I/O."""

from .errors import AnalysisError

__all__ = ["AnalysisError"]
