"""Dask inside QGIS: optional, installed on demand like ONNX Runtime, workers started with Python.

"This computer" never needs Dask. The cluster choices check :func:`dask_available` and offer a
one-click install (:func:`install_task`) into the plugin's own dependency folder, with the same
pinned, ``--no-deps`` pattern as ONNX Runtime (QGIS's numpy is never touched).
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

from .i18n import tr
from .onnx_runtime_install import deps_dir, find_python, install, packages_to_install

# (distribution, pinned version, module): Dask, distributed, pyarrow (GeoParquet) and what they
# need that a plain QGIS Python may lack; only the missing ones are installed
DASK_PINS: tuple = (
    ("dask", "2026.8.0", "dask"),
    ("distributed", "2026.8.0", "distributed"),
    ("pyarrow", "18.1.0", "pyarrow"),  # 19+ needs NumPy 2
    ("cloudpickle", "3.1.3", "cloudpickle"),
    ("fsspec", "2026.9.0", "fsspec"),
    ("partd", "1.4.2", "partd"),
    ("locket", "1.0.0", "locket"),
    ("toolz", "1.2.0", "toolz"),
    ("msgpack", "1.2.4", "msgpack"),
    ("psutil", "7.2.2", "psutil"),
    ("sortedcontainers", "2.4.0", "sortedcontainers"),
    ("tblib", "3.2.2", "tblib"),
    ("tornado", "6.6.1", "tornado"),
    ("zict", "3.0.0", "zict"),
    ("lazy-importer", "0.1.0", "lazy_importer"),
    ("importlib_metadata", "10.2.0", "importlib_metadata"),
    ("zipp", "4.1.2", "zipp"),
    ("click", "8.1.7", "click"),
    ("PyYAML", "6.0.2", "yaml"),
    ("Jinja2", "3.1.4", "jinja2"),
    ("MarkupSafe", "3.0.2", "markupsafe"),
    ("packaging", "24.2", "packaging"),
)


def dask_available() -> bool:
    """Whether ``distributed`` can be imported in this QGIS."""
    from ..core.distributed import dask_available as available

    return available()


def missing_text() -> str:
    return tr(
        "Running on a Dask cluster needs the Python packages dask, distributed and pyarrow: install them with "
        "the button below (into a folder of your QGIS profile), or run on this computer."
    )


def use_python_for_workers() -> None:
    """Local-cluster workers are Python processes: in QGIS ``sys.executable`` is QGIS itself."""
    if not Path(sys.executable or "").name.lower().startswith("python"):
        multiprocessing.set_executable(find_python())


def install_task(on_done=None, on_error=None, message_bar=None):
    """An :class:`IdfHrTask` installing the missing Dask packages (started by the caller)."""
    from .tasks import IdfHrTask

    target = deps_dir()

    def work(progress, is_canceled):
        return install(
            target, packages=packages_to_install(DASK_PINS), progress=progress, is_canceled=is_canceled
        )

    return IdfHrTask(
        tr("IdF HR: installing Dask"), work, on_done=on_done, on_error=on_error, message_bar=message_bar
    )


def check_dask_execution(source, execution: int, scheduler: str = "") -> None:
    """Refuse, with what to do, a cluster run that cannot happen (``execution``: 1 local, 2 scheduler)."""
    from ..core.errors import UserInputError

    if not dask_available():
        raise UserInputError(
            tr(
                "Running on a Dask cluster needs the Python packages dask, distributed and pyarrow, which "
                "this QGIS lacks: install them from the Detection tab (Advanced: where to run, Install "
                "Dask), or run on this computer."
            )
        )
    if getattr(source, "reader_factory", None) is not None:
        raise UserInputError(
            tr(
                "This imagery layer is read through QGIS (a web map service): Dask workers cannot open "
                "it themselves. Use a GeoTIFF, COG or VRT layer, or run on this computer."
            )
        )
    if execution == 2 and not scheduler.strip().lower().startswith(("tcp://", "tls://")):
        raise UserInputError(tr("Give the Dask scheduler address, like tcp://host:8786."))


def run_on_dask(model, raster: str, out_path, *, workers=None, scheduler=None, on_dashboard=None, **kwargs):
    """:func:`..core.distributed.run_distributed` from QGIS (workers started with Python)."""
    from ..core.distributed import run_distributed

    use_python_for_workers()

    def connected(client) -> None:
        link = getattr(client, "dashboard_link", "")
        if link and on_dashboard is not None:
            on_dashboard(link)

    return run_distributed(
        model, raster, out_path, workers=workers, scheduler=scheduler or None, on_client=connected, **kwargs
    )
