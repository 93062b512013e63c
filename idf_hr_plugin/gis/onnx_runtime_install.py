"""One-click install of ONNX Runtime into a folder the plugin owns, never touching QGIS's numpy.

Packages go to ``<QGIS profile>/python/idf_hr_deps`` with ``pip install --target … --no-deps``
and an explicit, pinned list that leaves out everything QGIS's Python already has (numpy above
all). The folder is *appended* to ``sys.path`` at plugin start, so QGIS's own packages always
win over anything in it. After an install the running QGIS imports it at once
(:func:`load_runtime`): no restart is needed. Only ``onnxruntime`` is needed at run time (it
reads the models' metadata itself); ``onnx`` is a development dependency.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
import site
import subprocess  # nosec B404
import sys
import uuid
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..core.errors import Cancelled, UserInputError
from .i18n import tr

# (distribution, pinned version, module that proves it is importable)
PINS: tuple = (
    ("onnxruntime", "1.32.0", "onnxruntime"),
)  # only onnxruntime: it reads the models' metadata itself, onnx is not needed at run time
DEPS_FOLDER = "idf_hr_deps"


def deps_dir(profile_dir: str | os.PathLike | None = None) -> Path:
    """``<profile>/python/idf_hr_deps`` (profile: the active QGIS profile folder by default)."""
    if profile_dir is None:
        from qgis.core import QgsApplication

        profile_dir = QgsApplication.qgisSettingsDirPath()
    return Path(profile_dir) / "python" / DEPS_FOLDER


def add_deps_to_sys_path(profile_dir: str | os.PathLike | None = None) -> bool:
    """Append the plugin's dependency folder to ``sys.path`` (after QGIS's own); True if present."""
    d = deps_dir(profile_dir)
    if not d.is_dir():
        return False
    refresh_import_path(d)
    return True


def refresh_import_path(folder: str | os.PathLike) -> None:
    """Make packages just installed in ``folder`` importable in this running Python.

    ``folder`` is appended to ``sys.path`` (its ``.pth`` files processed) and the import system
    forgets what it cached about it, so a folder created or filled after start-up is seen.
    """
    path = str(folder)
    sys.path_importer_cache.pop(path, None)
    if path not in sys.path:
        site.addsitedir(path)  # appends: QGIS's own packages keep precedence
    importlib.invalidate_caches()


def load_runtime(folder: str | os.PathLike | None = None) -> str:
    """Import ONNX Runtime now (after :func:`refresh_import_path` of ``folder``); ``""`` on success, else why not."""
    if folder is not None:
        refresh_import_path(folder)
    try:
        importlib.import_module("onnxruntime")
    except Exception as exc:  # ImportError, or a native library that does not load in this process
        return f"{type(exc).__name__}: {exc}"[:300]
    return ""


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` (what every detection needs) can be imported in this Python."""
    return _module_available("onnxruntime")


def _module_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def packages_to_install(
    pins: Sequence = PINS, is_available: Callable[[str], bool] = _module_available
) -> list:
    """``name==version`` of the pinned packages this Python lacks (numpy is never in the list)."""
    out = [f"{dist}=={ver}" for dist, ver, module in pins if not is_available(module)]
    return [p for p in out if not p.lower().startswith("numpy")]


def find_python(
    executable: str | None = None,
    prefixes: Sequence[str] | None = None,
    version: tuple | None = None,
) -> str:
    """The Python interpreter behind QGIS (``sys.executable`` may be the ``qgis`` binary itself)."""
    exe = executable if executable is not None else sys.executable
    major, minor = version or sys.version_info[:2]
    name = Path(exe).name.lower() if exe else ""
    if name.startswith("python"):
        return exe
    candidates = []
    for prefix in prefixes if prefixes is not None else (sys.exec_prefix, sys.base_prefix):
        p = Path(prefix)
        candidates += [
            p / "bin" / f"python{major}.{minor}",
            p / "bin" / f"python{major}",
            p / "bin" / "python3",
            p / "python.exe",
            p / "python3.exe",
            p / "bin" / "python.exe",
            p / "apps" / f"Python{major}{minor}" / "python.exe",
        ]
    for c in candidates:
        if c.is_file():
            return str(c)
    found = shutil.which(f"python{major}.{minor}") or shutil.which(f"python{major}")
    if found:
        return found
    raise UserInputError(
        tr(
            "The Python interpreter of QGIS was not found, so ONNX Runtime cannot be installed from "
            "here. Install it with the OSGeo4W shell or your package manager (pip install "
            "onnxruntime), then restart QGIS."
        )
    )


def pip_command(
    target: str | os.PathLike,
    packages: Sequence[str],
    *,
    python: str | None = None,
    constraints: str | os.PathLike | None = None,
    find_links: str | os.PathLike | None = None,
    no_index: bool = False,
) -> list:
    """The pip command line: ``--target`` the staging folder, ``--no-deps``, pinned packages only."""
    cmd = [
        python or find_python(),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--no-deps",
        "--only-binary=:all:",
        "--upgrade",
        "--target",
        str(target),
    ]
    if constraints:
        cmd += ["--constraint", str(constraints)]
    if find_links:
        cmd += ["--find-links", str(find_links)]
    if no_index:
        cmd.append("--no-index")
    return cmd + list(packages)


def _numpy_constraint() -> str:
    try:
        import numpy

        return f"numpy=={numpy.__version__}\n"
    except ImportError:  # pragma: no cover - QGIS always ships numpy
        return ""


def install(
    target: str | os.PathLike | None = None,
    *,
    packages: Sequence[str] | None = None,
    python: str | None = None,
    find_links: str | os.PathLike | None = None,
    no_index: bool = False,
    progress: Optional[Callable[[float], None]] = None,
    is_canceled: Optional[Callable[[], bool]] = None,
) -> dict:
    """Install ``packages`` (default: the missing pins) into ``target``; returns {packages, log, target}.

    pip writes into a staging folder next to ``target``; its content is moved into ``target``
    only when pip succeeded, then ``target`` is added to ``sys.path``. Cancel or failure
    leaves ``target`` as it was.
    """
    target = Path(target) if target is not None else deps_dir()
    pkgs = list(packages) if packages is not None else packages_to_install()
    if not pkgs:
        add_deps_to_sys_path(target.parent.parent)
        return {"packages": [], "log": tr("Everything is already installed."), "target": str(target)}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{DEPS_FOLDER}_staging_{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    constraints = staging.parent / f"{staging.name}.constraints.txt"
    constraints.write_text(_numpy_constraint(), encoding="utf-8")
    cmd = pip_command(
        staging, pkgs, python=python, constraints=constraints, find_links=find_links, no_index=no_index
    )
    env = dict(os.environ, PIP_NO_INPUT="1", PYTHONNOUSERSITE="1")
    log_lines: list = []
    try:
        proc = subprocess.Popen(  # nosec B603
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        for line in proc.stdout or ():
            log_lines.append(line.rstrip())
            if progress is not None:
                progress(min(0.9, 0.05 + 0.02 * len(log_lines)))
            if is_canceled is not None and is_canceled():
                proc.kill()
                proc.wait()
                raise Cancelled(tr("Installation cancelled; nothing was installed."))
        rc = proc.wait()
        if rc != 0:
            tail = "\n".join(log_lines[-8:])
            raise UserInputError(
                tr(
                    "pip could not install {pkgs} (exit code {rc}). Check the network or proxy "
                    "settings, or install them by hand. pip said:\n{tail}"
                ).format(pkgs=", ".join(pkgs), rc=rc, tail=tail)
            )
        target.mkdir(parents=True, exist_ok=True)
        for item in staging.iterdir():
            dest = target / item.name
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            elif dest.exists() or dest.is_symlink():
                dest.unlink()
            os.replace(item, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        constraints.unlink(missing_ok=True)
    refresh_import_path(target)
    if progress is not None:
        progress(1.0)
    return {"packages": pkgs, "log": "\n".join(log_lines), "target": str(target)}


def install_task(on_done=None, on_error=None, message_bar=None):
    """An :class:`IdfHrTask` that installs the missing detection dependencies (started by the caller)."""
    from .tasks import IdfHrTask

    target = deps_dir()

    def work(progress, is_canceled):
        return install(target, progress=progress, is_canceled=is_canceled)

    return IdfHrTask(
        tr("IdF HR: installing ONNX Runtime"),
        work,
        on_done=on_done,
        on_error=on_error,
        message_bar=message_bar,
    )
