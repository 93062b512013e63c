"""Jobs of a distributed run are square blocks of the tile grid, each tile in exactly one."""

from __future__ import annotations

from idf_hr_plugin.core.inference.tiling import Tile, TilePlan, split_plan_blocks


def _plan(cols: int, rows: int, skip=()) -> TilePlan:
    stride = 230
    tiles = []
    for r in range(rows):
        for c in range(cols):
            if (c, r) not in skip:
                tiles.append(Tile(len(tiles), c * stride, r * stride, 256))
    return TilePlan(raster="", grid=None, tile_size=256, overlap=26, tiles=tiles, total_tiles=cols * rows)


def test_blocks_are_square_and_cover_every_tile_once():
    plan = _plan(40, 8, skip={(0, 0), (5, 5)})  # a wide plan, two tiles outside a mask
    jobs = split_plan_blocks(plan, 16)
    ids = [i for j in jobs for i in j.tile_ids()]
    assert sorted(ids) == list(range(len(plan.tiles)))
    assert len(jobs) == 10 * 2 and [j.index for j in jobs] == list(range(20))
    for j in jobs:
        cols = {plan.tiles[i].col for i in j.tile_ids()}
        rows = {plan.tiles[i].row for i in j.tile_ids()}
        assert len(cols) <= 4 and len(rows) <= 4  # a 4 x 4 block, not a strip of a 40-tile row
        assert list(j.tile_ids()) == sorted(j.tile_ids())  # plan order inside a job
    # a range of 16 tiles of this plan would be a strip: every one of its tiles borders another job
    assert max(len(j.tile_ids()) for j in jobs) == 16
