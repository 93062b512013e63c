"""Region-scale detection on Dask distributed (Qt-free; Dask itself is optional).

Tasks are jobs of the tile plan; workers read the imagery and load the model themselves (its
sha256 checked against the client's), write their interior features to a GeoParquet dataset
(one file per job) and send back only the features on job borders, which the client merges as
the single-process engine does. See :func:`run_distributed`, :func:`estimate_run`.
"""

from .client import connect, dask_available, plan_run, require_dask, run_distributed, summary_lines

__all__ = ["connect", "dask_available", "plan_run", "require_dask", "run_distributed", "summary_lines"]
