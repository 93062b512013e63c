"""Honest accuracy of the whole change chain on the demo region's held-out tile.

bundled model on both vintages of the held-out 500 m tile (``run_detection``) -> ``compare_runs``
-> precision / recall / F1 of ``new`` and ``removed`` per class against the ground truth's recorded
``change``. ``python -m idf_hr_plugin.demo.change_accuracy --write-card`` stores the table in the
model card under ``change_accuracy``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from shapely.geometry import box

from ..core.analysis.io import read_detections
from ..core.analysis.workflow import change_accuracy, compare_runs, detect_vintages

HELD_OUT = (662500.0, 6855000.0, 663000.0, 6855500.0)  # scripts/train_demo_model.py HOLDOUT_*
MODEL = Path(__file__).resolve().parents[1] / "resources" / "models" / "idfhr_demo_detector.onnx"
METHOD = (
    "bundled model on both vintages of the held-out tile (run_detection, card settings) -> "
    "compare_detections (defaults, edge_m 2) -> a detected new/removed object is right when it "
    "overlaps a ground-truth object of the same class recorded with the same change (IoU >= 0.3, "
    "one-to-one); objects scored by representative point inside the compared area"
)

CARS_NOTE = (
    "Cars are parked elsewhere on every flight: about three quarters of the true new/removed objects "
    "of the tile are cars, so a change count with cars says nothing about the territory. The chain "
    "finds them well, but change detection leaves cars out by default (--exclude / the Analyse tab "
    "can bring them back); 'all_but_car' pools the other classes."
)


def held_out_change_accuracy(region, model: str | os.PathLike = MODEL, exclude=None) -> dict:
    """Per status and class P/R/F1 of the chain on the held-out tile (``exclude``: classes left out)."""
    tag = "_662500_6855500_"
    rasters, vintages = [], []
    for year, paths in sorted(region.vintages.items()):
        hold = [p for p in paths if tag in Path(p).name]
        rasters.append(str(hold[0]))
        vintages.append(str(year))
    with tempfile.TemporaryDirectory() as td:
        before, after = detect_vintages(model, rasters, vintages, td, extent=HELD_OUT, extent_crs="EPSG:2154")
        result = compare_runs(before, after, exclude=set() if exclude is None else exclude)
    area = box(*HELD_OUT)
    kw = dict(analysed_area=area, fields=("change",))
    t0 = read_detections(region.ground_truth, "objects", where=f"vintage = {vintages[0]}", **kw)
    t1 = read_detections(region.ground_truth, "objects", where=f"vintage = {vintages[1]}", **kw)
    return change_accuracy(result, t0, t1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-card", action="store_true", help="store the table in the model card")
    ap.add_argument("--region", help="demo region folder (default: the plugin's demo folder)")
    args = ap.parse_args(argv)
    from . import ensure_demo_region

    table = held_out_change_accuracy(ensure_demo_region(args.region))
    print(json.dumps(table, indent=1))
    if args.write_card:
        card_path = MODEL.with_suffix(".json")
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card["change_accuracy"] = {"method": METHOD, "tile": list(HELD_OUT), "cars": CARS_NOTE, **table}
        tmp = card_path.with_name(f".{card_path.name}.part")
        tmp.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, card_path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
