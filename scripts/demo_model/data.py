"""Training samples from the demo region: 20 cm tiles + ground-truth boxes, random augmented crops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASSES = ("building", "swimming_pool", "solar_panel", "tree", "car")
GSD = 0.2
# how often each class is the centre of an object-centred crop: solar panels (rare, small, on
# roofs) are the hardest and get twice the share of the others
CLASS_WEIGHTS = (1.0, 1.0, 2.0, 1.0, 1.0)


@dataclass
class TileData:
    """One 20 cm tile of one vintage: RGB (H, W, 3) uint8 and boxes (N, 4) x0, y0, x1, y1 in px."""

    path: Path
    vintage: int
    bounds: tuple
    rgb: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray


def tile_bounds(path: Path) -> tuple:
    import rasterio

    with rasterio.open(path) as src:
        b = src.bounds
        return (b.left, b.bottom, b.right, b.top)


def truth_boxes(gpkg: Path, vintage: int, bounds: tuple, *, centroid_inside: bool = False):
    """Axis-aligned boxes (map units) + class ids of the ground truth of ``vintage`` touching ``bounds``.

    ``centroid_inside``: keep only objects whose centroid lies in ``bounds`` (evaluation); boxes
    are clipped to ``bounds`` either way.
    """
    import geopandas as gpd

    g = gpd.read_file(gpkg, layer="objects", bbox=bounds)
    g = g[g["vintage"].astype(int) == int(vintage)]
    if centroid_inside:
        c = g.geometry.centroid
        x0, y0, x1, y1 = bounds
        g = g[(c.x >= x0) & (c.x < x1) & (c.y >= y0) & (c.y < y1)]
    b = g.geometry.bounds.to_numpy(np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = bounds
    b[:, 0] = np.clip(b[:, 0], x0, x1)
    b[:, 2] = np.clip(b[:, 2], x0, x1)
    b[:, 1] = np.clip(b[:, 1], y0, y1)
    b[:, 3] = np.clip(b[:, 3], y0, y1)
    cls = np.array([CLASSES.index(c) for c in g["class"]], np.int64)
    ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
    return b[ok], cls[ok]


def load_tile(path: Path, vintage: int, gpkg: Path) -> TileData:
    """Read a whole 20 cm tile and its ground-truth boxes in pixel coordinates."""
    import rasterio

    with rasterio.open(path) as src:
        rgb = np.moveaxis(src.read([1, 2, 3]), 0, -1).copy()
        b = src.bounds
        bounds = (b.left, b.bottom, b.right, b.top)
        res = src.res[0]
    mb, cls = truth_boxes(gpkg, vintage, bounds)
    px = np.stack(
        [
            (mb[:, 0] - bounds[0]) / res,
            (bounds[3] - mb[:, 3]) / res,
            (mb[:, 2] - bounds[0]) / res,
            (bounds[3] - mb[:, 1]) / res,
        ],
        1,
    ).astype(np.float32)
    return TileData(Path(path), int(vintage), bounds, rgb, px, cls)


class CropSampler:
    """Random ``size`` px crops with flips, 90° rotations and mild colour jitter.

    Half the crops are centred near an object drawn by class (``class_weights``: rare pools and
    panels are seen at least as often as cars), half are uniform. Boxes cut by the crop edge are kept (clipped) when
    at least ``keep_frac`` of them is visible, otherwise marked "ignore" (no loss either way).
    """

    def __init__(
        self, tiles: list, size: int, seed: int, keep_frac: float = 0.45, class_weights=CLASS_WEIGHTS
    ):
        self.tiles, self.size, self.keep_frac = tiles, size, keep_frac
        w = np.asarray(class_weights, np.float64)
        self.class_p = w / w.sum()
        self.rng = np.random.default_rng(seed)
        self.by_class = []
        for k in range(len(CLASSES)):
            self.by_class.append(
                [(ti, j) for ti, t in enumerate(tiles) for j in np.nonzero(t.classes == k)[0]]
            )

    def _origin(self):
        S = self.size
        if self.rng.random() < 0.5:
            pool = self.by_class[int(self.rng.choice(len(CLASSES), p=self.class_p))]
            ti, j = pool[int(self.rng.integers(len(pool)))]
            t = self.tiles[ti]
            cx, cy = (t.boxes[j, 0] + t.boxes[j, 2]) / 2, (t.boxes[j, 1] + t.boxes[j, 3]) / 2
            x0 = int(cx - S / 2 + self.rng.integers(-S // 3, S // 3 + 1))
            y0 = int(cy - S / 2 + self.rng.integers(-S // 3, S // 3 + 1))
        else:
            ti = int(self.rng.integers(len(self.tiles)))
            t = self.tiles[ti]
            x0 = int(self.rng.integers(0, t.rgb.shape[1] - S + 1))
            y0 = int(self.rng.integers(0, t.rgb.shape[0] - S + 1))
        H, W = t.rgb.shape[:2]
        return t, min(max(x0, 0), W - S), min(max(y0, 0), H - S)

    def sample(self):
        """(img (3, S, S) float32 0..1, boxes (N, 4), classes (N,), ignore boxes (M, 4))."""
        S = self.size
        t, x0, y0 = self._origin()
        img = t.rgb[y0 : y0 + S, x0 : x0 + S].astype(np.float32)
        b = t.boxes - np.array([x0, y0, x0, y0], np.float32)
        vis = np.clip(b, 0, S)
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        varea = np.clip(vis[:, 2] - vis[:, 0], 0, None) * np.clip(vis[:, 3] - vis[:, 1], 0, None)
        touching = varea > 0
        keep = (
            touching
            & (varea >= self.keep_frac * area)
            & ((vis[:, 2] - vis[:, 0]) >= 3)
            & ((vis[:, 3] - vis[:, 1]) >= 3)
        )
        ign = touching & ~keep
        boxes, cls, ignore = vis[keep], t.classes[keep], vis[ign]
        # geometry: flips and 90° rotations
        if self.rng.random() < 0.5:
            img = img[:, ::-1]
            boxes = np.stack([S - boxes[:, 2], boxes[:, 1], S - boxes[:, 0], boxes[:, 3]], 1)
            ignore = np.stack([S - ignore[:, 2], ignore[:, 1], S - ignore[:, 0], ignore[:, 3]], 1)
        if self.rng.random() < 0.5:
            img = img[::-1]
            boxes = np.stack([boxes[:, 0], S - boxes[:, 3], boxes[:, 2], S - boxes[:, 1]], 1)
            ignore = np.stack([ignore[:, 0], S - ignore[:, 3], ignore[:, 2], S - ignore[:, 1]], 1)
        if self.rng.random() < 0.5:  # transpose (with the flips: all 8 dihedral symmetries)
            img = img.transpose(1, 0, 2)
            boxes = boxes[:, [1, 0, 3, 2]]
            ignore = ignore[:, [1, 0, 3, 2]]
        # colour: gain per channel, contrast, brightness, a little noise
        gain = self.rng.uniform(0.9, 1.1, 3).astype(np.float32)
        contrast = np.float32(self.rng.uniform(0.8, 1.2))
        bright = np.float32(self.rng.uniform(-15, 15))
        mean = img.mean()
        img = (img - mean) * contrast + mean + bright
        img = img * gain
        if self.rng.random() < 0.3:
            img = img + self.rng.normal(0, 4, img.shape).astype(np.float32)
        img = np.clip(img, 0, 255) / 255.0
        return (
            np.ascontiguousarray(img.transpose(2, 0, 1), np.float32),
            boxes.astype(np.float32).reshape(-1, 4),
            cls.astype(np.int64),
            ignore.astype(np.float32).reshape(-1, 4),
        )

    def batch(self, n: int):
        return [self.sample() for _ in range(n)]
