"""Detections written as the run goes, with the very result of one global NMS pass.

Greedy NMS only ever compares boxes whose envelopes overlap, so each connected group of
overlapping boxes decides alone. Tiles run in rows; once a group lies above every row still to
run by more than the reach seen so far (how far boxes stretch above their own tile, doubled),
the group is *settled*: NMS'd as the global pass would, its kept detections written to the
staging GeoPackage, all its boxes (kept or not) stashed in a side table there, and it leaves
memory. Nothing is assumed about how far a model can draw a box: a later box that reaches a
settled group (checked against a per-class skyline of what was written) takes that group back
out of the staging file — its written features deleted, its boxes back in memory — and the
group is decided again with the newcomer. Memory holds the boxes of a few rows of tiles and
the skyline (a number per class per 32 px column), whatever the extent.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .nms import class_pairs, nms
from .results import PartialResult, Selected

BIN_PX = 32  # skyline column width


class _Pool:
    """Boxes in memory, in arrival order (``seq``), as parallel arrays."""

    NAMES = ("seq", "boxes", "scores", "cls", "tiles", "cut", "rboxes", "topk_ids", "topk_scores")

    def __init__(self):
        self.seq = np.zeros(0, np.int64)
        self.boxes = np.zeros((0, 4), np.float64)
        self.scores = np.zeros(0, np.float32)
        self.cls = np.zeros(0, np.int32)
        self.tiles = np.zeros(0, np.int64)
        self.cut = np.zeros(0, bool)
        self.rboxes: Optional[np.ndarray] = None
        self.topk_ids: Optional[np.ndarray] = None
        self.topk_scores: Optional[np.ndarray] = None
        self.polys: list = []

    def __len__(self) -> int:
        return len(self.seq)

    def extend(self, other: dict) -> None:
        for name in self.NAMES:
            mine, theirs = getattr(self, name), other.get(name)
            if theirs is None:
                continue
            setattr(self, name, theirs if mine is None or len(mine) == 0 else np.concatenate([mine, theirs]))
        self.polys = self.polys + list(other["polys"])
        if (np.diff(self.seq) < 0).any():  # boxes taken back from the staging file: arrival order again
            self.take(np.argsort(self.seq, kind="stable"), keep=True)

    def take(self, idx: np.ndarray, keep: bool = False) -> dict:
        """The rows ``idx`` as a dict; ``keep``: they become the pool, else they leave it."""
        rows = {
            name: (None if getattr(self, name) is None else getattr(self, name)[idx]) for name in self.NAMES
        }
        rows["polys"] = [self.polys[i] for i in idx] if self.polys else [None] * len(idx)
        if keep:
            for name in self.NAMES:
                setattr(self, name, rows[name])
            self.polys = rows["polys"]
            return rows
        rest = np.ones(len(self.seq), bool)
        rest[idx] = False
        for name in self.NAMES:
            if getattr(self, name) is not None:
                setattr(self, name, getattr(self, name)[rest])
        self.polys = [p for p, r in zip(self.polys, rest) if r] if self.polys else []
        return rows


def components(boxes: np.ndarray, cls: np.ndarray, agnostic: bool) -> np.ndarray:
    """Group label of each box: connected groups of overlapping envelopes (same class unless
    ``agnostic``), the pairs NMS compares."""
    n = len(boxes)
    lab = np.arange(n)
    if n < 2:
        return lab
    i, j = class_pairs(boxes, cls, agnostic)
    while i.size:  # min-label propagation with pointer jumping: few rounds for small groups
        before = lab.copy()
        np.minimum.at(lab, i, lab[j])
        np.minimum.at(lab, j, lab[i])
        lab = lab[lab]
        if (lab == before).all():
            break
    return lab


class DetectionStream:
    """Settles groups of overlapping detections as the run passes them (see the module)."""

    def __init__(self, staged, write: Callable, *, width: int, iou: float, ios, agnostic: bool):
        self.staged, self.write = staged, write
        self.iou, self.ios, self.agnostic = iou, ios, agnostic
        self.pool = _Pool()
        self.seq = 0
        self.reach = 0.0  # how far boxes stretch above their tile's top, at most (px)
        self.nbins = max(1, int(np.ceil(width / BIN_PX)) + 1)
        self.sky: Optional[np.ndarray] = None  # per class row: the lowest bottom of settled boxes per column
        self.sky_row: dict = {}  # class (0 for all if agnostic) -> its row in ``sky``
        self.comp = 0
        self.n0 = 0
        self.taken_back = 0
        staged.enable_boxes()

    def take(self, part: PartialResult, tile_rows: dict) -> None:
        """Move the detections ``part`` holds into the stream (``tile_rows``: tile id -> row)."""
        if not part.boxes:
            return
        new = {
            "boxes": np.concatenate(part.boxes).astype(np.float64),
            "scores": np.concatenate(part.scores),
            "cls": np.concatenate(part.class_ids),
            "tiles": np.concatenate(part.tile_ids),
            "cut": np.concatenate(part.cut),
            "rboxes": np.concatenate(part.rboxes) if part.rboxes else None,
            "topk_ids": np.concatenate(part.topk_ids) if part.topk_ids else None,
            "topk_scores": np.concatenate(part.topk_scores) if part.topk_scores else None,
            "polys": list(part.polys),
        }
        n = len(new["scores"])
        if new["topk_ids"] is not None and len(new["topk_ids"]) != n:
            new["topk_ids"] = new["topk_scores"] = None
        new["seq"] = np.arange(self.seq, self.seq + n, dtype=np.int64)
        self.seq += n
        self.n0 += n
        part.boxes, part.scores, part.class_ids, part.tile_ids, part.cut = [], [], [], [], []
        part.rboxes, part.polys, part.topk_ids, part.topk_scores = [], [], [], []
        top = np.array([tile_rows[int(t)] for t in new["tiles"]], np.float64)
        self.reach = max(self.reach, float((top - new["boxes"][:, 1]).max()))
        self._take_back_reached(new["boxes"], new["cls"])
        self.pool.extend(new)

    def _bins(self, boxes: np.ndarray, cls: np.ndarray) -> tuple:
        """(box index, skyline row, column) of every column each box covers."""
        b0 = np.clip((boxes[:, 0] // BIN_PX).astype(np.int64), 0, self.nbins - 1)
        b1 = np.clip((boxes[:, 2] // BIN_PX).astype(np.int64), 0, self.nbins - 1)
        span = b1 - b0 + 1
        idx = np.repeat(np.arange(len(boxes)), span)
        col = np.repeat(b0, span) + (np.arange(int(span.sum())) - np.repeat(np.cumsum(span) - span, span))
        keys = np.zeros(len(boxes), np.int64) if self.agnostic else np.asarray(cls, np.int64)
        for key in np.unique(keys).tolist():
            if key not in self.sky_row:
                self.sky_row[key] = len(self.sky_row)
        rows = np.array([self.sky_row[k] for k in keys.tolist()], np.int64)
        return idx, rows[idx], col

    def _take_back_reached(self, boxes: np.ndarray, cls: np.ndarray) -> None:
        """Settled groups that new boxes reach come back into memory, their features unwritten."""
        if self.sky is None:
            return
        idx, row, col = self._bins(boxes, cls)
        if len(self.sky) < len(self.sky_row):  # classes never settled: nothing written for them
            self.sky = np.vstack(
                [self.sky, np.full((len(self.sky_row) - len(self.sky), self.nbins), -np.inf)]
            )
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])  # every box covers >= 1 column
        top = np.maximum.reduceat(self.sky[row, col], starts)
        hit = boxes[:, 1] <= top
        if not hit.any():
            return
        rows = self.staged.take_back(boxes[hit], None if self.agnostic else cls[hit])
        if rows is not None and len(rows["seq"]):
            self.taken_back += len(rows["seq"])
            self.pool.extend(rows)

    def flush(self, next_row: float) -> None:
        """Settle the groups lying above ``next_row`` (the top of the tiles still to run) by more
        than twice the reach seen so far; ``inf``: everything."""
        p = self.pool
        if not len(p):
            return
        if np.isfinite(next_row):
            line = next_row - max(2.0 * self.reach, 1.0)
            if p.boxes[:, 3].min() >= line:
                return
        else:
            line = np.inf
        lab = components(p.boxes, p.cls, self.agnostic)
        low = np.full(len(p), -np.inf)
        np.maximum.at(low, lab, p.boxes[:, 3])
        settled = np.nonzero(low[lab] < line)[0]
        if not settled.size:
            return
        inv = np.unique(lab[settled], return_inverse=True)[1].reshape(-1)
        comp_of = inv + self.comp
        self.comp += int(inv.max()) + 1
        rows = p.take(settled)
        keep = nms(
            rows["boxes"],
            rows["scores"],
            rows["cls"],
            iou_thr=self.iou,
            ios_thr=self.ios,
            agnostic=self.agnostic,
            groups=rows["tiles"],
            priority=rows["cut"].astype(np.int8),
            rboxes=rows["rboxes"],
            fragments=rows["cut"],
        )
        keep = np.sort(keep)
        masks = any(g is not None for g in rows["polys"])
        sel = Selected(
            rows["boxes"][keep],
            rows["scores"][keep],
            rows["cls"][keep],
            (
                rows["tiles"][keep],
                None if rows["topk_ids"] is None else rows["topk_ids"][keep],
                None if rows["topk_scores"] is None else rows["topk_scores"][keep],
            ),
            None if rows["rboxes"] is None else rows["rboxes"][keep],
            [rows["polys"][k] for k in keep] if masks else None,
            self.n0,
        )
        self.write(sel, comp_of[keep])
        self.staged.stash_boxes(rows, comp_of)
        idx, row, col = self._bins(rows["boxes"], rows["cls"])
        if self.sky is None:
            self.sky = np.full((len(self.sky_row), self.nbins), -np.inf)
        elif len(self.sky) < len(self.sky_row):
            self.sky = np.vstack(
                [self.sky, np.full((len(self.sky_row) - len(self.sky), self.nbins), -np.inf)]
            )
        key = row * self.nbins + col
        order = np.argsort(key, kind="stable")
        key, val = key[order], rows["boxes"][idx[order], 3]
        first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        flat = self.sky.reshape(-1)
        flat[key[first]] = np.maximum(flat[key[first]], np.maximum.reduceat(val, first))
