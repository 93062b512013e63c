"""Semantic segmentation stitched window by window: same polygons as a whole-raster
polygonisation, final polygons leave memory as the run goes, jobs merge to the same result."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import ogr

from idf_hr_plugin.core.inference import load_model_spec, merge_results, plan_tiles, run_detection, split_plan
from idf_hr_plugin.core.inference.results import SegmentStitcher
from idf_hr_plugin.core.inference.runner import _segment_tile

from .conftest import make_raster

X0, Y0 = 652000.0, 6862000.0


def _field(shape, seed, size=9):
    """A smooth random field in [0, 1]: blobs of a few pixels to a few tens of pixels."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    f = ndimage.uniform_filter(rng.random(shape), size=size)
    return (f - f.min()) / (f.max() - f.min())


def red_blobs_raster(path, seed: int, level: float, size=(900, 700)):
    """A 20 cm RGB GeoTIFF of red blobs (``_field`` above ``level``) on grey -> (path, red mask)."""
    import rasterio

    w, h = size
    red = _field((h, w), seed, size=15) > level
    data = np.full((3, h, w), 128, np.uint8)
    data[0][red], data[1][red], data[2][red] = 255, 0, 0
    r = make_raster(path, size=(w, h))
    with rasterio.open(r, "r+") as dst:
        dst.write(data)
    return r, red


def _whole_raster(scores, thresh):
    """Reference: label + polygonise the whole raster at once -> {(class, cx, cy): (geom, score)}."""
    from rasterio import features
    from scipy import ndimage
    from shapely.geometry import shape

    out = {}
    for k in range(scores.shape[0]):
        binary = scores[k] > thresh
        lab, n = ndimage.label(binary)
        means = ndimage.mean(scores[k], lab, index=np.arange(1, n + 1))
        for g, v in features.shapes(lab.astype(np.int32), mask=binary):
            g = shape(g)
            out[(k, round(g.centroid.x, 6), round(g.centroid.y, 6))] = (g, float(means[int(v) - 1]))
    return out


def _keyed(geoms, classes, scores):
    from idf_hr_plugin.core.inference.results import CutPart, PxRect

    geoms = [g.geom if isinstance(g, CutPart) else g for g in geoms]
    geoms = [g.polygon() if isinstance(g, PxRect) else g for g in geoms]
    return {
        (int(c), round(g.centroid.x, 6), round(g.centroid.y, 6)): (g, float(s))
        for g, c, s in zip(geoms, classes, scores)
    }


def _stitch(scores, plan, thresh, order=None):
    T = plan.tile_size
    padded = np.pad(scores, ((0, 0), (0, T), (0, T)))
    st = SegmentStitcher(plan.tiles)
    pending = []
    for t in order or plan.tiles:
        st.add(t.id, _segment_tile(padded[:, t.row : t.row + T, t.col : t.col + T], t, plan.grid, thresh))
        pending.append(len(st.pending()[0]))
    st.finish()
    return st, pending


@pytest.mark.parametrize("classes", [1, 2, 5])
def test_window_by_window_equals_whole_raster(tmp_path, classes):
    r = make_raster(tmp_path / "r.tif", size=(700, 520))
    plan = plan_tiles(str(r), tile_size=96, overlap=16)
    assert len(plan.tiles) > 30
    f = np.stack([_field((520, 700), seed) for seed in range(classes)])
    if classes > 1:  # softmax-like: a class keeps its score where it is the argmax
        arg = f.argmax(axis=0)
        f = np.where(np.arange(classes)[:, None, None] == arg[None], f, 0.0)
    scores = f.astype(np.float32)
    thresh = 0.5 if classes == 1 else 0.05
    st, _ = _stitch(scores, plan, thresh)
    got = _keyed(st.geoms, st.classes, st.scores)
    ref = _whole_raster(scores, thresh)
    assert len(ref) > 50 and set(got) == set(ref)
    for key, (g, s) in ref.items():
        assert got[key][0].equals(g) and got[key][0].symmetric_difference(g).area < 1e-9
        assert got[key][1] == pytest.approx(s, abs=1e-6)


def test_finished_polygons_are_handed_out_window_by_window(tmp_path):
    """Blobs over 14 x 14 windows: only the seam pieces along the unfinished windows wait in memory."""
    r = make_raster(tmp_path / "r.tif", size=(1200, 1200))
    plan = plan_tiles(str(r), tile_size=96, overlap=16)
    rows = len({t.row for t in plan.tiles})
    assert rows >= 12
    scores = _field((1200, 1200), 3)[None].astype(np.float32)
    st, pending = _stitch(scores, plan, 0.6)
    T = plan.tile_size
    padded = np.pad(scores, ((0, 0), (0, T), (0, T)))
    seam_total = sum(
        sum(
            1
            for p in _segment_tile(padded[:, t.row : t.row + T, t.col : t.col + T], t, plan.grid, 0.6)
            if p[3]
        )
        for t in plan.tiles
    )
    # row-major order: about two rows of windows hold waiting pieces, whatever the extent
    assert seam_total > 500 and max(pending) < 2.5 * seam_total / rows
    assert len(st.pending()[0]) == 0
    assert set(_keyed(st.geoms, st.classes, st.scores)) == set(_whole_raster(scores, 0.6))


def _gpkg(path, layer):
    from shapely import wkb

    ds = ogr.Open(str(path))
    return [
        (f.GetField("class_id"), f.GetField("score"), wkb.loads(bytes(f.GetGeometryRef().ExportToWkb())))
        for f in ds.GetLayerByName(layer)
    ]


def test_run_and_jobs_give_the_whole_raster_polygons(models, tmp_path):
    """Red blobs over many tiles: the written polygons are those of the whole raster at once."""
    r, red = red_blobs_raster(tmp_path / "blobs.tif", 7, 0.55)
    out = tmp_path / "o.gpkg"
    rep = run_detection(models["seg_sigmoid"], str(r), out_path=out, overlap=26, simplify_px=0.0)
    assert rep.tiles_run > 9
    got = _gpkg(out, rep.layer)
    ref = _whole_raster(red[None].astype(np.float32), 0.5)
    from affine import Affine
    from shapely.affinity import affine_transform

    t = Affine(0.2, 0, X0, 0, -0.2, Y0)
    ref_geoms = [affine_transform(g, [t.a, t.b, t.d, t.e, t.c, t.f]) for g, _s in ref.values()]
    assert len(got) == len(ref_geoms) > 20
    by_c = {(round(g.centroid.x, 4), round(g.centroid.y, 4)): g for _c, _s, g in got}
    for g in ref_geoms:
        mine = by_c[(round(g.centroid.x, 4), round(g.centroid.y, 4))]
        assert mine.symmetric_difference(g).area < 1e-6
    # split into jobs (distributed run): the same features
    spec = load_model_spec(models["seg_sigmoid"])
    plan = plan_tiles(str(r), tile_size=256, overlap=26)
    parts = [run_detection(spec, str(r), job=j, overlap=26).partial for j in split_plan(plan, n_jobs=3)]
    merged = merge_results(parts, plan.grid)
    keyed = sorted((round(g.centroid.x, 4), round(g.centroid.y, 4), round(g.area, 4)) for g in merged.geoms)
    assert keyed == sorted(
        (round(g.centroid.x, 4), round(g.centroid.y, 4), round(g.area, 4)) for _c, _s, g in got
    )


def test_specks_stay_rectangles_until_written_with_the_polygoniser_rings(tmp_path):
    """Most pieces of a noisy map are whole-pixel rectangles: they skip the polygoniser and shapely
    (kept as four numbers) and come out, in the CRS, as the very rings the polygoniser draws."""
    from affine import Affine
    from shapely import wkb

    from idf_hr_plugin.core.inference import geom as G
    from idf_hr_plugin.core.inference.results import PxRect, finish_segments

    r = make_raster(tmp_path / "r.tif", size=(300, 260))
    plan = plan_tiles(str(r), tile_size=96, overlap=16)
    rng = np.random.default_rng(5)
    scores = (rng.random((2, 260, 300)) ** 4).astype(np.float32)  # sparse specks, some touching
    T = plan.tile_size
    padded = np.pad(scores, ((0, 0), (0, T), (0, T)))
    t = Affine(0.2, 0, X0, 0, -0.2, Y0)
    n_rect = 0
    for tile in plan.tiles:
        win = padded[:, tile.row : tile.row + T, tile.col : tile.col + T]
        slow = _segment_tile(win, tile, plan.grid, 0.5)
        fast = _segment_tile(win, tile, plan.grid, 0.5, fast_rects=True)
        assert len(fast) == len(slow)
        rects = [p for p in fast if isinstance(p[0], PxRect)]
        n_rect += len(rects)
        assert all(not seam for _g, _c, _s, seam in rects)
        ref = {(c, g.bounds): (g, s, seam) for g, c, s, seam in slow}
        for g, c, s, seam in fast:
            rg, rs, rseam = ref[(c, g.bounds)]
            assert (s, seam) == (rs, rseam)
            if isinstance(g, PxRect):  # the polygoniser's own ring, vertex for vertex
                assert list(g.polygon().exterior.coords) == list(rg.exterior.coords)
        # in the CRS: the same coordinates as shapely's transform of the polygoniser's polygons
        final = [p for p in fast if not p[3]]  # seam pieces (pixels) go to the stitcher first
        feats = finish_segments(
            [p[0] for p in final], [p[1] for p in final], [p[2] for p in final], plan.grid
        )
        ref_crs = [_shapely_affine(ref[(c, g.bounds)][0], plan.grid.transform) for g, c, _s, _seam in final]
        assert [g.wkb for g in feats.geoms] == [g.wkb for g in ref_crs]
    assert n_rect > 1000
    import pickle  # partial results of distributed jobs travel pickled

    back = pickle.loads(pickle.dumps(PxRect(1.0, 2.0, 3.0, 5.0)))
    assert type(back) is PxRect and back == (1.0, 2.0, 3.0, 5.0) and back.area == 6.0
    seam = next(
        p[0]
        for tile in plan.tiles
        for p in _segment_tile(
            padded[:, tile.row : tile.row + T, tile.col : tile.col + T], tile, plan.grid, 0.5
        )
        if p[3]
    )
    again = pickle.loads(pickle.dumps(seam))
    assert again.bounds == seam.bounds and again.count == seam.count and (again.mask() == seam.mask()).all()
    # the one-pass transform of WKB polygons (with holes, multipolygons) is shapely's arithmetic
    holed = wkb.loads(wkb.dumps(G.box(0, 0, 9, 7).difference(G.box(2, 2, 4, 5)).union(G.box(11, 1, 13.5, 2))))
    assert G.affine_wkb([holed.wkb], t) == [_shapely_affine(holed, t).wkb]
    assert [g.wkb for g in G.affine([holed], t)] == [_shapely_affine(holed, t).wkb]


def _shapely_affine(g, t):
    from shapely.affinity import affine_transform

    return affine_transform(g, [t.a, t.b, t.d, t.e, t.c, t.f])


def test_detection_boxes_to_the_crs_in_one_pass_are_shapely_boxes_transformed():
    from affine import Affine

    from idf_hr_plugin.core.inference import geom as G

    b = np.random.default_rng(0).random((500, 4)) * 500
    b[:, 2:] += b[:, :2]
    t = Affine(0.2, 0, X0, 0, -0.2, Y0)
    assert G.rect_wkb(b, t, ring="shapely") == [_shapely_affine(g, t).wkb for g in G.boxes(b)]


def _blob_raster(tmp_path, w=900, h=700):
    return red_blobs_raster(tmp_path / "blobs.tif", 7, 0.55, size=(w, h))[0]


def test_final_segments_go_to_disk_during_the_run_not_to_a_list(models, tmp_path):
    """A segmentation run keeps no finished polygon in memory: they are written as the windows
    finish (to a staging file that becomes the layer in one step), and a cancelled run leaves
    nothing behind."""
    r = _blob_raster(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "o.gpkg"
    seen = []

    def progress(done, total, _eta):  # what is in the output folder while the run goes
        seen.append(sorted(p.name for p in out_dir.iterdir()))

    rep = run_detection(models["seg_sigmoid"], str(r), out_path=out, overlap=26, progress=progress)
    assert rep.features > 20 and len(_gpkg(out, rep.layer)) == rep.features
    assert rep.partial.seg_polys == [] and rep.partial.seg_class == []
    assert sum(rep.counts.values()) == rep.features
    assert [p.name for p in out_dir.iterdir()] == ["o.gpkg"]  # the staging file is gone
    # while the run went: only a hidden staging file, the output appears complete at the end
    assert len(seen) > 1 and all(len(names) == 1 and names[0].endswith(".staging.gpkg") for names in seen)
    # into the existing file: a second layer added in place, the same features, its extent known
    rep2 = run_detection(models["seg_sigmoid"], str(r), out_path=out, overlap=26, layer_name=rep.layer)
    assert rep2.layer == rep.layer + "_2" and len(_gpkg(out, rep2.layer)) == rep.features
    b = np.array([g.bounds for _c, _s, g in _gpkg(out, rep2.layer)])
    want = (b[:, 0].min(), b[:, 2].max(), b[:, 1].min(), b[:, 3].max())
    ds = ogr.Open(str(out))
    for name in (rep.layer, rep2.layer):
        assert ds.GetLayerByName(name).GetExtent() == pytest.approx(want, abs=1e-9)
    ds = None
    assert [p.name for p in out_dir.iterdir()] == ["o.gpkg"]
    # the same run without an output keeps its features for the caller (jobs, merge_results)
    mem = run_detection(models["seg_sigmoid"], str(r), overlap=26)
    assert len(mem.partial.seg_polys) == rep.features
    # cancelled after a few batches: no output, no staging file
    calls = []
    out2 = out_dir / "cancelled.gpkg"
    from idf_hr_plugin.core.errors import Cancelled

    with pytest.raises(Cancelled):
        run_detection(
            models["seg_sigmoid"],
            str(r),
            out_path=out2,
            overlap=26,
            batch_size=1,
            progress=lambda *a: calls.append(a),
            cancel=lambda: len(calls) >= 3,
        )
    assert [p.name for p in out_dir.iterdir()] == ["o.gpkg"]


def test_simplified_polygons_do_not_depend_on_the_tiles(models, tmp_path):
    """Regions cut by many seams are polygonised whole, then simplified: the written (simplified)
    polygons are those of the whole raster polygonised and simplified at once, for any tile size."""
    from affine import Affine
    from shapely.affinity import affine_transform

    w, h = 900, 700
    r, red = red_blobs_raster(tmp_path / "blobs.tif", 11, 0.5)
    t = Affine(0.2, 0, X0, 0, -0.2, Y0)
    ref = [
        affine_transform(g.simplify(0.5, preserve_topology=True), [t.a, t.b, t.d, t.e, t.c, t.f])
        for g, _s in _whole_raster(red[None].astype(np.float32), 0.5).values()
    ]
    big = max(ref, key=lambda g: g.area)
    assert big.area > 0.2 * w * h * 0.04  # one region spreads across most windows
    for tile in (128, 256):
        out = tmp_path / f"o{tile}.gpkg"
        rep = run_detection(models["seg_sigmoid"], str(r), out_path=out, overlap=26, tile_size=tile)
        assert rep.tiles_run > 4
        got = {(round(g.centroid.x, 3), round(g.centroid.y, 3)): g for _c, _s, g in _gpkg(out, rep.layer)}
        assert len(got) == len(ref) > 20
        for g in ref:
            mine = got[(round(g.centroid.x, 3), round(g.centroid.y, 3))]
            assert _vertices(mine) == _vertices(g) and abs(mine.area - g.area) < 1e-6


def _vertices(g) -> tuple:
    """Rings and the set of their vertices (cm), whatever vertex each ring starts at."""
    rings = [r for p in getattr(g, "geoms", [g]) for r in (p.exterior, *p.interiors)]
    return len(rings), sorted({(round(x, 2), round(y, 2)) for r in rings for x, y in r.coords})


def test_label4_without_scipy(monkeypatch):
    """Without SciPy (it is optional in QGIS), GDAL labels the same 4-connected regions."""
    from scipy import ndimage

    from idf_hr_plugin.core.inference.polygonise import label4, region_boxes

    binary = _field((130, 170), 4, size=5) > 0.55
    binary[0, :3] = binary[1, 3] = True  # a diagonal contact: two regions in 4-connectivity
    ref, n_ref = ndimage.label(binary)
    boxes_ref = region_boxes(ref, n_ref)
    monkeypatch.setitem(__import__("sys").modules, "scipy", None)
    lab, n = label4(binary)
    assert n == n_ref > 20
    pairs = set(zip(ref[binary].tolist(), lab[binary].tolist()))
    assert len(pairs) == n and (lab[~binary] == 0).all()  # the same regions, numbered otherwise
    perm = dict(pairs)
    boxes = region_boxes(lab, n)
    assert all((boxes[perm[i + 1] - 1] == boxes_ref[i]).all() for i in range(n))


def _blocks_of(g, step):
    """{block: part of ``g`` in it} along the grid of ``step`` px (what the stitcher must give)."""
    from shapely.geometry import box
    from shapely.ops import unary_union

    x0, y0, x1, y1 = g.bounds
    out = {}
    for by in range(int(y0) // step * step, int(np.ceil(y1)), step):
        for bx in range(int(x0) // step * step, int(np.ceil(x1)), step):
            cut = g.intersection(box(bx, by, bx + step, by + step))
            polys = [p for p in getattr(cut, "geoms", [cut]) if p.geom_type == "Polygon" and p.area > 0]
            polys += [
                q for p in getattr(cut, "geoms", [cut]) if p.geom_type == "MultiPolygon" for q in p.geoms
            ]
            if polys:
                out[(bx, by)] = unary_union(polys)
    return out


@pytest.mark.parametrize("tile", [96, 128])
def test_regions_wider_than_a_block_are_cut_along_the_grid(tmp_path, monkeypatch, tile):
    """A region wider or taller than REGION_BLOCK_PX comes out as one feature per block of the
    grid it reaches, with the region's score: exactly the region's pixels in that block,
    whatever the tiles; smaller regions are untouched."""
    from idf_hr_plugin.core.inference import results as R

    monkeypatch.setattr(R, "REGION_BLOCK_PX", 100)
    r = make_raster(tmp_path / "r.tif", size=(700, 520))
    plan = plan_tiles(str(r), tile_size=tile, overlap=16)
    scores = _field((520, 700), 8, size=21)[None].astype(np.float32)
    want, n_cut = {}, 0
    for (k, _x, _y), (g, sc) in _whole_raster(scores, 0.6).items():
        x0, y0, x1, y1 = g.bounds
        if x1 - x0 > 100 or y1 - y0 > 100:
            n_cut += 1
            for part in _blocks_of(g, 100).values():
                want[(k, round(part.centroid.x, 6), round(part.centroid.y, 6))] = (part, sc)
        else:
            want[(k, round(g.centroid.x, 6), round(g.centroid.y, 6))] = (g, sc)
    st, _ = _stitch(scores, plan, 0.6)
    got = _keyed(st.geoms, st.classes, st.scores)
    assert st.cut == n_cut >= 2 and len(got) == len(want)
    for key, (g, sc) in want.items():
        mine, my_score = got[key]
        assert mine.equals(g) and my_score == pytest.approx(sc, abs=1e-6)
        x0, y0, x1, y1 = mine.bounds
        assert x1 - x0 <= 100 and y1 - y0 <= 100


def test_a_run_says_which_regions_it_cut(models, tmp_path, monkeypatch):
    """End to end: the parts are written, none is dropped as a small segment (a sliver of a big
    region past a block line is still that region), the areas add up to the uncut regions', and
    the run report says how many regions were cut and how to join them again."""
    from idf_hr_plugin.core.inference import results as R

    r, _red = red_blobs_raster(tmp_path / "blobs.tif", 11, 0.5)
    kw = {"overlap": 26, "simplify_px": 0.0, "min_area_px": 400}
    whole = run_detection(models["seg_sigmoid"], str(r), out_path=tmp_path / "whole.gpkg", **kw)
    assert not any("cut along" in n for n in whole.notes)
    monkeypatch.setattr(R, "REGION_BLOCK_PX", 230)
    rep = run_detection(models["seg_sigmoid"], str(r), out_path=tmp_path / "cut.gpkg", **kw)
    note = [n for n in rep.notes if "cut along" in n]
    assert len(note) == 1 and "46 m" in note[0] and "dissolve" in note[0]
    assert rep.features > whole.features
    smallest = min(g.area for _c, _s, g in _gpkg(tmp_path / "cut.gpkg", rep.layer))
    assert smallest < 400 * 0.04  # a part smaller than the small-segment limit, kept
    total = sum(a for a in rep.areas_m2.values())
    assert total == pytest.approx(sum(whole.areas_m2.values()), rel=1e-9)


def test_big_finished_regions_are_handed_on_without_waiting_for_the_batch(tmp_path, monkeypatch):
    """Finished regions go to the writer as soon as they hold SPILL_PX pixels, not batch by batch:
    several huge regions never wait in memory together; nothing is lost or repeated."""
    from idf_hr_plugin.core.inference import results as R

    r = make_raster(tmp_path / "r.tif", size=(700, 520))
    plan = plan_tiles(str(r), tile_size=96, overlap=16)
    scores = _field((520, 700), 8, size=21)[None].astype(np.float32)
    ref, _ = _stitch(scores, plan, 0.6)
    monkeypatch.setattr(R, "SPILL_PX", 500)
    T = plan.tile_size
    padded = np.pad(scores, ((0, 0), (0, T), (0, T)))
    st = SegmentStitcher(plan.tiles)
    handed, held = [], []

    def spill():
        held.append(len(st.geoms))
        handed.extend(zip(st.geoms, st.classes, st.scores))
        st.geoms, st.classes, st.scores = [], [], []

    st.spill = spill
    for t in plan.tiles:
        st.add(t.id, _segment_tile(padded[:, t.row : t.row + T, t.col : t.col + T], t, plan.grid, 0.6))
    st.finish()
    handed.extend(zip(st.geoms, st.classes, st.scores))
    assert len(held) >= 3
    got = _keyed(*zip(*handed))
    assert set(got) == set(_keyed(ref.geoms, ref.classes, ref.scores))
