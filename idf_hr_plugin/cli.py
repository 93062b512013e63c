"""Command line of IdF HR (no QGIS needed): ``python -m idf_hr_plugin <command> ...``.

Commands register themselves with :func:`register_command`; ``detect`` is built in.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

from .core.errors import IdfHrError, UserInputError
from .core.i18n import tr

SetupParser = Callable[[argparse.ArgumentParser], None]
Run = Callable[[argparse.Namespace], int]
_COMMANDS: Dict[str, Tuple[SetupParser, Run, str]] = {}


def register_command(name: str, setup_parser: SetupParser, run: Run, help: str = "") -> None:
    """Add a subcommand: ``setup_parser(parser)`` declares its options, ``run(args) -> exit code``."""
    _COMMANDS[name] = (setup_parser, run, help)


def parse_extent(text: str) -> tuple:
    """``xmin,ymin,xmax,ymax[:EPSG]`` -> ((xmin, ymin, xmax, ymax), "EPSG:nnnn" or None)."""
    crs = None
    body = text.strip()
    if ":" in body:
        body, code = body.rsplit(":", 1)
        code = code.strip().upper().removeprefix("EPSG")
        if not code.isdigit():
            raise UserInputError(
                tr("The extent CRS '{code}' must be an EPSG code, e.g. :2154.").format(code=code)
            )
        crs = "EPSG:" + code
    try:
        vals = tuple(float(v) for v in body.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise UserInputError(
            tr("The extent '{text}' must be xmin,ymin,xmax,ymax optionally followed by :EPSG.").format(
                text=text
            )
        )
    if not (vals[0] < vals[2] and vals[1] < vals[3]):
        raise UserInputError(
            tr("The extent '{text}' is empty: xmin must be below xmax and ymin below ymax.").format(text=text)
        )
    if crs is not None:
        from .core.inference.params import check_crs

        check_crs(crs, tr("The extent CRS"))
    return vals, crs


def checked(check: Callable, *args) -> Callable[[str], object]:
    """An argparse ``type`` from a core check: a bad value exits 2 with the check's sentence."""

    def convert(text: str):
        try:
            return check(text, *args)
        except UserInputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(check, "__name__", "value")
    return convert


def _crs_text(text: str, name: str) -> str:
    from .core.inference.params import check_crs

    check_crs(text, name)
    return text


def _detect_parser(p: argparse.ArgumentParser) -> None:
    from .core.inference.params import check_fraction, check_int

    p.add_argument("--model", required=True, help="ONNX model file")
    p.add_argument("--raster", required=True, help="GDAL-readable raster (GeoTIFF, COG, VRT, /vsicurl/ URL)")
    p.add_argument(
        "--extent", type=checked(parse_extent), help="xmin,ymin,xmax,ymax[:EPSG] (default: the whole raster)"
    )
    p.add_argument(
        "--mask", help="vector file of polygons: tiles outside are skipped, detections outside dropped"
    )
    p.add_argument("--out", required=True, help="output GeoPackage (.gpkg); existing layers are kept")
    p.add_argument("--conf", type=checked(check_fraction, "--conf"), help="confidence threshold (0 to 1)")
    p.add_argument("--iou", type=checked(check_fraction, "--iou"), help="IoU threshold of the NMS (0 to 1)")
    p.add_argument("--batch", type=checked(check_int, "--batch", 1), help="tiles per inference batch (>= 1)")
    p.add_argument(
        "--tile-size",
        type=checked(check_int, "--tile-size", 8, 16384),
        help="tile size in pixels (models with a dynamic input)",
    )
    p.add_argument("--overlap", type=checked(check_int, "--overlap", 0), help="tile overlap in pixels")
    p.add_argument("--task", help="override the detected task (detection, obb, instance_segmentation, ...)")
    p.add_argument("--layout", help="override the detected output layout (yolov8, yolov5, end2end, ...)")
    p.add_argument("--bands", help="band mapping: RGB, BGR, IRC or a list like 1,2,3")
    p.add_argument("--sha256", help="expected sha256 of the model file")
    p.add_argument(
        "--out-crs",
        type=checked(_crs_text, "--out-crs"),
        help="CRS of the output layer, e.g. EPSG:2154 (default: the raster's)",
    )
    p.add_argument(
        "--threads",
        type=checked(check_int, "--threads", 1, 1024),
        help="ONNX Runtime threads (default: physical cores)",
    )
    p.add_argument("--source", default="", help="imagery id stored with each result")
    p.add_argument("--vintage", default="", help="imagery vintage stored with each result")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=checked(check_int, "--workers", 1, 1024),
        help="run on a Dask LocalCluster of N worker processes on this machine",
    )
    where.add_argument(
        "--scheduler", help="run on an existing Dask cluster: scheduler address tcp://host:8786"
    )
    p.add_argument(
        "--jobs-dir", help="GeoParquet job folder of a Dask run (default: <out>.idfhr-jobs next to --out)"
    )
    p.add_argument(
        "--resume", action="store_true", help="Dask run: finish only the jobs missing from --jobs-dir"
    )
    p.add_argument("--worker-model", help="Dask run: the model path as the workers see it (same sha256)")
    p.add_argument(
        "--tiles-per-job", type=checked(check_int, "--tiles-per-job", 1), help="Dask run: tiles per task"
    )


def _detect_run(args: argparse.Namespace) -> int:
    from .core.inference import run_detection
    from .core.inference.params import check_detection_params, check_input_file
    from .core.inference.writer import check_output_path

    extent, extent_crs = args.extent or (None, None)
    # everything the parser cannot see on its own, before any work
    check_input_file(args.model, tr("model file"))
    check_detection_params(raster=args.raster, mask=args.mask, tile_size=args.tile_size, overlap=args.overlap)
    check_output_path(args.out)
    last = [0.0]

    def progress(done: int, total: int, eta: float) -> None:
        now = time.monotonic()
        if args.quiet or (now - last[0] < 0.5 and done < total):
            return
        last[0] = now
        line = (
            tr("jobs {done}/{total}, ETA {eta:.0f} s")
            if args.workers or args.scheduler
            else tr("tiles {done}/{total}, ETA {eta:.0f} s")
        )
        sys.stderr.write("\r" + line.format(done=done, total=total, eta=eta))
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    distributed = bool(args.workers or args.scheduler)
    if not distributed and (args.resume or args.worker_model or args.jobs_dir or args.tiles_per_job):
        raise UserInputError(
            tr(
                "--resume, --jobs-dir, --worker-model and --tiles-per-job need --workers N or --scheduler ADDRESS."
            )
        )
    common = dict(
        extent=extent,
        extent_crs=extent_crs,
        mask=args.mask,
        batch_size=args.batch,
        conf=args.conf,
        iou=args.iou,
        tile_size=args.tile_size,
        overlap=args.overlap,
        task=args.task,
        layout=args.layout,
        band_map=args.bands,
        expected_sha256=args.sha256,
        out_crs=args.out_crs,
        threads=args.threads,
        progress=progress,
        source=args.source,
        vintage=args.vintage,
    )
    if distributed:
        from .core.distributed import run_distributed, summary_lines

        report = run_distributed(
            args.model,
            args.raster,
            args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            worker_model=args.worker_model,
            jobs_dir=args.jobs_dir,
            resume=args.resume,
            tiles_per_job=args.tiles_per_job,
            **common,
        )
        extra = summary_lines(report)
    else:
        report = run_detection(args.model, args.raster, out_path=args.out, **common)
        extra = []
    print("\n".join([report.summary(), *extra]))
    print(tr("Energy estimate method: {m}").format(m=report.energy_method))
    return 0


register_command("detect", _detect_parser, _detect_run, "run an ONNX model over a raster extent")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m idf_hr_plugin", description="IdF HR command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (setup, _run, help_) in _COMMANDS.items():
        setup(sub.add_parser(name, help=help_, description=help_))
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit code (2 with the message on a user-facing error)."""
    from . import commands  # noqa: F401  (registers the catalog, download and demo commands)

    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as exc:  # argparse: usage + one sentence on stderr, exit 2 (0 for --help)
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 1
    try:
        return int(_COMMANDS[args.command][1](args) or 0)
    except IdfHrError as exc:
        sys.stderr.write("\n" + tr("Error: {msg}").format(msg=str(exc)) + "\n")
        return 2
    except Exception as exc:
        if not _is_gdal_error(exc):
            raise
        # a data file GDAL could not read, past the checks that name it: still one sentence
        msg = " ".join(str(exc).split())[:300]
        sys.stderr.write(
            "\n"
            + tr(
                "Error: GDAL could not read the data ({msg}). Check that the file is complete and readable."
            ).format(msg=msg)
            + "\n"
        )
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("\n" + tr("Interrupted; nothing was written.") + "\n")
        return 130


def _is_gdal_error(exc: BaseException) -> bool:
    try:
        from rasterio._err import CPLE_BaseError
        from rasterio.errors import RasterioError
    except ImportError:  # pragma: no cover - rasterio is a dependency of the CLI
        return False
    return isinstance(exc, (RasterioError, CPLE_BaseError))
