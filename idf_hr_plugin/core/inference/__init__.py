"""ONNX detection engine (Qt-free): model cards, tiling, window reading, decoders, NMS, writers.

Entry points: :func:`run_detection` (one call does a whole run), :func:`load_model_spec`,
:func:`plan_tiles` / :func:`split_plan` / :func:`merge_results` for split (distributed) runs.
Heavy imports (onnxruntime, rasterio) happen inside the functions that need them, so importing
this package works where they are not installed.
"""

from __future__ import annotations

from .model import ModelSpec, available_providers, create_session, load_model_spec
from .report import RunReport
from .results import PartialResult, merge_results
from .runner import run_detection, run_tiles
from .tiling import Job, TilePlan, plan_tiles, split_plan

__all__ = [
    "Job",
    "ModelSpec",
    "PartialResult",
    "RunReport",
    "TilePlan",
    "available_providers",
    "create_session",
    "load_model_spec",
    "merge_results",
    "plan_tiles",
    "run_detection",
    "run_tiles",
    "split_plan",
]
