"""Deterministic vector layout of the synthetic demo region (streets, lots, houses, objects).

Everything is generated in a local frame rotated like the street grid, then placed at real
Lambert-93 coordinates. Each object knows the vintages it exists in, so one layout serves both
vintages and their ground truth.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from shapely.geometry import MultiPoint, Polygon, box
from shapely.ops import unary_union
from shapely.strtree import STRtree

Y0, Y1 = 2024, 2026
BOTH = frozenset({Y0, Y1})
ONLY0 = frozenset({Y0})
ONLY1 = frozenset({Y1})

# ground classes (painting order is the order of Scene.ground)
LAWN, LAWN_DRY, SOIL, PAVING, GRAVEL, ASPHALT, SIDEWALK, HEDGE, BED = range(9)

# sun: azimuth (degrees clockwise from north, direction *towards* the sun) and elevation
SUN = {Y0: (205.0, 62.0), Y1: (160.0, 58.0)}

ROOF_COLOURS = {
    "terracotta": [(196, 104, 78), (182, 92, 70), (204, 122, 92), (170, 88, 66), (188, 112, 86)],
    "slate": [(92, 96, 104), (78, 82, 92), (104, 106, 112)],
    "brown": [(132, 86, 70), (120, 80, 66)],
    "anthracite": [(62, 64, 70), (70, 70, 74)],
}
FLAT_COLOURS = [(168, 164, 156), (150, 148, 144), (184, 180, 172), (136, 132, 126)]
CAR_COLOURS = [
    ((236, 236, 234), 0.24),
    ((178, 180, 182), 0.16),
    ((112, 114, 118), 0.14),
    ((28, 28, 32), 0.20),
    ((36, 62, 122), 0.09),
    ((152, 28, 30), 0.08),
    ((70, 94, 76), 0.03),
    ((200, 170, 120), 0.03),
    ((214, 110, 30), 0.03),
]
TREE_COLOURS = [(58, 82, 44), (66, 92, 48), (52, 74, 42), (78, 98, 56), (46, 64, 40), (88, 72, 58)]


def rect(cx: float, cy: float, ang: float, hl: float, hw: float) -> Polygon:
    """Rotated rectangle: centre, angle of the long axis (radians), half length and half width."""
    c, s = math.cos(ang), math.sin(ang)
    pts = [(-hl, -hw), (hl, -hw), (hl, hw), (-hl, hw)]
    return Polygon([(cx + u * c - v * s, cy + u * s + v * c) for u, v in pts])


@dataclass
class Scene:
    """All objects of the region; dict records keep the renderer vectorisable."""

    bounds: tuple[float, float, float, float]
    seed: int
    phi: float
    parts: list[dict] = field(default_factory=list)  # roof parts: cx cy ang hl hw roof rgb pitch h years bid
    buildings: list[dict] = field(default_factory=list)  # oid geom years
    decos: list[dict] = field(default_factory=list)  # chimneys, skylights, hvac: cx cy ang hl hw kind h years
    pools: list[dict] = field(default_factory=list)
    solars: list[dict] = field(default_factory=list)
    trees: list[dict] = field(default_factory=list)
    cars: list[dict] = field(default_factory=list)
    ground: list[tuple] = field(default_factory=list)  # (geom, gclass, years, height)
    roads: list[tuple] = field(default_factory=list)  # (geom, kind) kind in asphalt|sidewalk
    markings: list[Polygon] = field(default_factory=list)
    crossings: list[Polygon] = field(default_factory=list)
    _next_id: int = 1

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1


class _Builder:
    def __init__(self, bounds, seed: int):
        self.rng = np.random.default_rng(seed)
        self.bounds = bounds
        self.region = box(*bounds)
        x0, y0, x1, y1 = bounds
        self.cx, self.cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.size = max(x1 - x0, y1 - y0)
        self.phi = math.radians(float(self.rng.uniform(-24, -10)))
        self.scene = Scene(bounds=bounds, seed=seed, phi=self.phi)
        self.tree_polys: list[Polygon] = []
        self.street_trees = None  # STRtree over avenue crowns, once they are placed

    # --- frames -------------------------------------------------------------------------------
    def w(self, p: float, q: float) -> tuple[float, float]:
        c, s = math.cos(self.phi), math.sin(self.phi)
        return self.cx + p * c - q * s, self.cy + p * s + q * c

    def lrect(self, p0: float, q0: float, p1: float, q1: float, turn: bool = False) -> dict:
        """Local axis-aligned box -> rotated-rect params (long axis along p, or q when turn)."""
        cx, cy = self.w((p0 + p1) / 2, (q0 + q1) / 2)
        hp, hq = abs(p1 - p0) / 2, abs(q1 - q0) / 2
        if turn:
            return dict(cx=cx, cy=cy, ang=self.phi + math.pi / 2, hl=hq, hw=hp)
        return dict(cx=cx, cy=cy, ang=self.phi, hl=hp, hw=hq)

    def lpoly(self, p0, q0, p1, q1) -> Polygon:
        r = self.lrect(p0, q0, p1, q1)
        return rect(r["cx"], r["cy"], r["ang"], r["hl"], r["hw"])

    def inside(self, g) -> bool:
        return self.region.contains(g)

    # --- objects -------------------------------------------------------------------------------
    def add_tree(self, x, y, r, h, years=BOTH, avoid=()) -> bool:
        rng = self.rng
        n = 22
        th = np.linspace(0, 2 * math.pi, n, endpoint=False)
        ph = rng.uniform(0, 2 * math.pi, 3)
        rr = r * (
            1 + 0.07 * np.sin(2 * th + ph[0]) + 0.05 * np.sin(3 * th + ph[1]) + 0.04 * np.sin(5 * th + ph[2])
        )
        poly = Polygon(np.c_[x + rr * np.cos(th), y + rr * np.sin(th)])
        if not self.inside(poly) or any(poly.intersects(a) for a in avoid):
            return False
        conifer = rng.random() < 0.12
        col = (
            (40, 60, 46)
            if conifer
            else TREE_COLOURS[
                int(rng.integers(len(TREE_COLOURS) - 1 if rng.random() < 0.97 else len(TREE_COLOURS)))
            ]
        )
        self.scene.trees.append(
            dict(
                oid=self.scene.new_id(),
                cx=x,
                cy=y,
                r=r,
                h=h,
                rgb=col,
                conifer=conifer,
                geom=poly,
                years=years,
                salt=int(rng.integers(1 << 30)),
            )
        )
        self.tree_polys.append(poly)
        return True

    def add_car(self, cx, cy, ang, years, avoid=()) -> bool:
        rng = self.rng
        hl, hw = rng.uniform(2.0, 2.4), rng.uniform(0.86, 0.95)
        if rng.random() < 0.08:  # vans
            hl, hw = rng.uniform(2.5, 2.8), 1.0
        poly = rect(cx, cy, ang, hl, hw)
        if not self.inside(poly) or any(poly.intersects(a) for a in avoid):
            return False
        probe = poly.buffer(0.2)
        if self.street_trees is not None and any(t.intersects(probe) for t in self.street_trees.query(probe)):
            return False
        cols, probs = zip(*CAR_COLOURS)
        col = cols[int(rng.choice(len(cols), p=np.array(probs) / sum(probs)))]
        self.scene.cars.append(
            dict(
                oid=self.scene.new_id(),
                cx=cx,
                cy=cy,
                ang=ang,
                hl=hl,
                hw=hw,
                rgb=col,
                geom=poly,
                years=years,
                van=hl > 2.45,
            )
        )
        return True

    def car_years(self) -> frozenset | None:
        r = self.rng.random()
        if r < 0.30:
            return BOTH
        if r < 0.52:
            return ONLY0
        if r < 0.74:
            return ONLY1
        return None

    def add_building(self, parts: list[dict], years, decorate=True) -> dict | None:
        geoms = [rect(p["cx"], p["cy"], p["ang"], p["hl"], p["hw"]) for p in parts]
        geom = unary_union(geoms)
        if geom.geom_type != "Polygon" or not self.inside(geom):
            return None
        geom = geom.simplify(0.01)
        b = dict(oid=self.scene.new_id(), geom=geom, years=years)
        self.scene.buildings.append(b)
        for p in parts:
            p.update(years=years, bid=b["oid"])
            self.scene.parts.append(p)
        if decorate:
            for p in parts:
                self.decorate(p, years)
        return b

    def decorate(self, p: dict, years) -> None:
        rng = self.rng
        c, s = math.cos(p["ang"]), math.sin(p["ang"])
        if p["roof"] == "flat":
            n = int(rng.integers(0, 2 + int(p["hl"] * p["hw"] / 60)))
            for _ in range(n):
                u = rng.uniform(-p["hl"] + 2, p["hl"] - 2) if p["hl"] > 2.5 else 0
                v = rng.uniform(-p["hw"] + 2, p["hw"] - 2) if p["hw"] > 2.5 else 0
                kind = "hvac" if rng.random() < 0.6 else "skylight"
                a, b = (
                    (rng.uniform(0.6, 1.5), rng.uniform(0.5, 1.0))
                    if kind == "hvac"
                    else (rng.uniform(0.6, 1.2), rng.uniform(0.6, 1.2))
                )
                self.scene.decos.append(
                    dict(
                        cx=p["cx"] + u * c - v * s,
                        cy=p["cy"] + u * s + v * c,
                        ang=p["ang"],
                        hl=a,
                        hw=b,
                        kind=kind,
                        h=p["h"] + 1.0,
                        years=years,
                    )
                )
            return
        if rng.random() < 0.6:
            u = rng.uniform(-p["hl"] * 0.7, p["hl"] * 0.7)
            v = rng.choice([-1, 1]) * rng.uniform(0.2, 0.6) * p["hw"]
            self.scene.decos.append(
                dict(
                    cx=p["cx"] + u * c - v * s,
                    cy=p["cy"] + u * s + v * c,
                    ang=p["ang"],
                    hl=0.35,
                    hw=0.3,
                    kind="chimney",
                    h=p["h"] + 0.8,
                    years=years,
                )
            )
        for _ in range(int(rng.integers(0, 3))):
            u = rng.uniform(-p["hl"] * 0.6, p["hl"] * 0.6)
            v = rng.choice([-1, 1]) * rng.uniform(0.35, 0.65) * p["hw"]
            self.scene.decos.append(
                dict(
                    cx=p["cx"] + u * c - v * s,
                    cy=p["cy"] + u * s + v * c,
                    ang=p["ang"],
                    hl=0.4,
                    hw=0.5,
                    kind="velux",
                    h=0.0,
                    years=years,
                )
            )

    def add_solar_on(self, p: dict, years) -> bool:
        """A panel array on the sun-facing face of a pitched roof part (or rows on a flat roof)."""
        rng = self.rng
        az = math.radians(180.0)
        sun = (math.sin(az), math.cos(az))
        c, s = math.cos(p["ang"]), math.sin(p["ang"])
        if p["roof"] == "flat":
            rows, depth, gap = [], 1.0, 2.4
            n = int((2 * p["hw"] - 2.0) // gap)
            if n < 1 or p["hl"] < 3:
                return False
            half = min(p["hl"] - 1.2, rng.uniform(3, 12))
            for k in range(n):
                v = -p["hw"] + 1.2 + depth / 2 + k * gap
                rows.append((0.0, v, half, depth / 2))
            ok = False
            for u, v, hl, hw in rows:
                ok |= self._solar(p, u, v, hl, hw, 1.0, 1.0, years, c, s, tilt=0.95)
            return ok
        vsign = 1.0 if (-s * sun[0] + c * sun[1]) > 0 else -1.0
        margin = 0.35
        nrows = int((p["hw"] - 2 * margin) // 1.4)
        if nrows < 1:
            return False
        nrows = int(rng.integers(1, nrows + 1))
        maxhalf = p["hl"] - 0.5 if p["roof"] == "gable" else p["hl"] - p["hw"] + margin
        ncols = int(min(2 * maxhalf // 1.0, rng.integers(4, 14)))
        if ncols < 2:
            return False
        hl, hw = ncols * 0.5, nrows * 0.7
        v = vsign * (margin + hw + rng.uniform(0, max(0.0, p["hw"] - 2 * margin - 2 * hw)))
        u = rng.uniform(-(maxhalf - hl), maxhalf - hl) if maxhalf > hl else 0.0
        return self._solar(p, u, v, hl, hw, 1.0, 1.4, years, c, s, tilt=1.15)

    def _solar(self, p, u, v, hl, hw, mod_u, mod_v, years, c, s, tilt) -> bool:
        cx, cy = p["cx"] + u * c - v * s, p["cy"] + u * s + v * c
        poly = rect(cx, cy, p["ang"], hl, hw)
        if not self.inside(poly):
            return False
        self.scene.solars.append(
            dict(
                oid=self.scene.new_id(),
                cx=cx,
                cy=cy,
                ang=p["ang"],
                hl=hl,
                hw=hw,
                mu=mod_u,
                mv=mod_v,
                geom=poly,
                years=years,
                lit=tilt,
            )
        )
        return True


def _split(rng, start: float, stop: float, lo: float, hi: float) -> list[float]:
    cuts = [start]
    while stop - cuts[-1] > hi:
        cuts.append(cuts[-1] + float(rng.uniform(lo, hi)))
    if stop - cuts[-1] < lo and len(cuts) > 1:
        cuts[-1] = stop
    else:
        cuts.append(stop)
    return cuts


def build_scene(bounds: tuple[float, float, float, float], seed: int) -> Scene:
    """Generate the full deterministic layout for ``bounds`` (EPSG:2154)."""
    b = _Builder(bounds, seed)
    rng, sc = b.rng, b.scene
    ext = b.size * 0.75 + 60
    # ---- street grid --------------------------------------------------------------------------
    ps = _split(rng, -ext, ext, 120, 170)
    qs = _split(rng, -ext, ext, 62, 84)
    avenue_p = int(np.argmin([abs(p + b.size * 0.12) for p in ps]))
    avenue_q = int(np.argmin([abs(q - b.size * 0.18) for q in qs]))
    wp = [22.0 if i == avenue_p else float(rng.choice([11.0, 12.0, 13.0])) for i in range(len(ps))]
    wq = [22.0 if i == avenue_q else float(rng.choice([11.0, 12.0])) for i in range(len(qs))]
    clip = b.region.buffer(30)

    def street(axis: str, pos: float, width: float, major: bool):
        side = 3.5 if major else 2.0
        carr = width - 2 * side
        if axis == "p":  # runs along q at p = pos
            sw = b.lpoly(pos - width / 2, -ext, pos + width / 2, ext)
            cw = b.lpoly(pos - carr / 2, -ext, pos + carr / 2, ext)
        else:
            sw = b.lpoly(-ext, pos - width / 2, ext, pos + width / 2)
            cw = b.lpoly(-ext, pos - carr / 2, ext, pos + carr / 2)
        return sw.intersection(clip), cw.intersection(clip)

    sidewalks, carriages = [], []
    for i, p in enumerate(ps):
        s_, c_ = street("p", p, wp[i], i == avenue_p)
        sidewalks.append(s_)
        carriages.append(c_)
    for i, q in enumerate(qs):
        s_, c_ = street("q", q, wq[i], i == avenue_q)
        sidewalks.append(s_)
        carriages.append(c_)
    for g in sidewalks:
        sc.roads.append((g, "sidewalk"))
    for g in carriages:
        sc.roads.append((g, "asphalt"))

    def carr_half(width, major):
        return (width - 2 * (3.5 if major else 2.0)) / 2

    # markings: avenue centre dashes, crossings at intersections
    def near_region(poly) -> bool:
        return poly.intersects(clip)

    for i, p in enumerate(ps):
        if i == avenue_p:
            t = -ext
            while t < ext:
                g = b.lpoly(p - 0.075, t, p + 0.075, t + 3.0)
                if near_region(g) and not any(abs(t + 1.5 - q) < wq[j] / 2 + 4 for j, q in enumerate(qs)):
                    sc.markings.append(g)
                t += 6.5
    for j, q in enumerate(qs):
        if j == avenue_q:
            t = -ext
            while t < ext:
                g = b.lpoly(t, q - 0.075, t + 3.0, q + 0.075)
                if near_region(g) and not any(abs(t + 1.5 - p) < wp[i] / 2 + 4 for i, p in enumerate(ps)):
                    sc.markings.append(g)
                t += 6.5
    for i, p in enumerate(ps):
        for j, q in enumerate(qs):
            if not b.region.buffer(40).contains(b.lpoly(p - 1, q - 1, p + 1, q + 1)):
                continue
            major = i == avenue_p or j == avenue_q
            hp, hq = carr_half(wp[i], i == avenue_p), carr_half(wq[j], j == avenue_q)
            for sgn in (-1, 1):
                # arm along q (street i), crossing stripes parallel to q
                if major or rng.random() < 0.5:
                    q0 = q + sgn * (wq[j] / 2 + 0.8)
                    q1 = q0 + sgn * (4.0 if major else 3.0)
                    x = p - hp + 0.3
                    while x + 0.5 <= p + hp - 0.2:
                        sc.crossings.append(b.lpoly(x, min(q0, q1), x + 0.5, max(q0, q1)))
                        x += 1.0
                if major or rng.random() < 0.5:
                    p0 = p + sgn * (wp[i] / 2 + 0.8)
                    p1 = p0 + sgn * (4.0 if major else 3.0)
                    y = q - hq + 0.3
                    while y + 0.5 <= q + hq - 0.2:
                        sc.crossings.append(b.lpoly(min(p0, p1), y, max(p0, p1), y + 0.5))
                        y += 1.0
    # street trees along the avenues
    for i, p in enumerate(ps):
        if i == avenue_p:
            for sgn in (-1, 1):
                t = -ext
                while t < ext:
                    t += float(rng.uniform(8.5, 10.5))
                    if any(abs(t - q) < wq[j] / 2 + 6 for j, q in enumerate(qs)):
                        continue
                    x, y = b.w(p + sgn * (wp[i] / 2 - 1.6), t)
                    b.add_tree(x, y, float(rng.uniform(2.4, 3.4)), float(rng.uniform(8, 12)))
    for j, q in enumerate(qs):
        if j == avenue_q:
            for sgn in (-1, 1):
                t = -ext
                while t < ext:
                    t += float(rng.uniform(8.5, 10.5))
                    if any(abs(t - p) < wp[i] / 2 + 6 for i, p in enumerate(ps)):
                        continue
                    x, y = b.w(t, q + sgn * (wq[j] / 2 - 1.6))
                    b.add_tree(x, y, float(rng.uniform(2.4, 3.4)), float(rng.uniform(8, 12)))
    with warnings.catch_warnings():  # shapely 1.8 announces its 2.0 API change
        warnings.simplefilter("ignore")
        b.street_trees = STRtree(list(b.tree_polys))
    # parked and driving cars on every street
    for i, p in enumerate(ps):
        hp = carr_half(wp[i], i == avenue_p)
        for sgn in (-1, 1):
            _street_cars(b, "p", p, sgn * (hp - 1.15), [(q, wq[j]) for j, q in enumerate(qs)], ext)
            if rng.random() < 0.7:
                _moving_cars(
                    b,
                    "p",
                    p,
                    sgn * (hp / 2 if i == avenue_p else 0.0) + (0 if i == avenue_p else 0.0),
                    sgn,
                    ext,
                )
    for j, q in enumerate(qs):
        hq = carr_half(wq[j], j == avenue_q)
        for sgn in (-1, 1):
            _street_cars(b, "q", q, sgn * (hq - 1.15), [(p, wp[i]) for i, p in enumerate(ps)], ext)
            if rng.random() < 0.7 and j == avenue_q:
                _moving_cars(b, "q", q, sgn * hq / 2, sgn, ext)
    # ---- blocks -------------------------------------------------------------------------------
    for i in range(len(ps) - 1):
        for j in range(len(qs) - 1):
            pa, pb = ps[i] + wp[i] / 2, ps[i + 1] - wp[i + 1] / 2
            qa, qb = qs[j] + wq[j] / 2, qs[j + 1] - wq[j + 1] / 2
            if not b.lpoly(pa, qa, pb, qb).intersects(b.region.buffer(5)):
                continue
            r = rng.random()
            if r < 0.72:
                _houses(b, pa, qa, pb, qb)
            elif r < 0.84:
                _apartments(b, pa, qa, pb, qb)
            elif r < 0.93:
                _park(b, pa, qa, pb, qb)
            else:
                _commercial(b, pa, qa, pb, qb)
    _ensure_changes(b)
    return sc


def _ensure_changes(b: _Builder) -> None:
    """Guarantee every change kind exists (small regions may otherwise lack some by chance)."""
    sc, rng = b.scene, b.rng
    new = lambda recs: any(r["years"] == ONLY1 for r in recs)  # noqa: E731
    if not any(t["years"] == ONLY0 for t in sc.trees):
        cands = [t for t in sc.trees if t["years"] == BOTH]
        if cands:
            cands[int(rng.integers(len(cands)))]["years"] = ONLY0
    if not new(sc.pools):
        cands = [p for p in sc.pools if p["years"] == BOTH]
        if len(cands) >= 2:
            cands[int(rng.integers(len(cands)))]["years"] = ONLY1
    pitched = [p for p in sc.parts if p["roof"] != "flat" and p["years"] == BOTH]
    for years in [ONLY1] if any(Y0 in s_["years"] for s_ in sc.solars) else [BOTH, ONLY1]:
        if years == ONLY1 and new(sc.solars):
            break
        for p in pitched:
            roof = rect(p["cx"], p["cy"], p["ang"], p["hl"], p["hw"])
            if not any(s_["geom"].intersects(roof) for s_ in sc.solars) and b.add_solar_on(p, years):
                break
    if not new(sc.buildings):
        bids = {p["bid"] for p in sc.parts if p["years"] == BOTH}
        cands = [
            bb
            for bb in sc.buildings
            if bb["years"] == BOTH
            and bb["oid"] in bids
            and not any(s_["geom"].intersects(bb["geom"]) for s_ in sc.solars)
        ]
        if cands:
            bb = min(cands, key=lambda r: r["geom"].area)
            bb["years"] = ONLY1
            for p in sc.parts:
                if p["bid"] == bb["oid"]:
                    p["years"] = ONLY1
                    for s_ in sc.solars:
                        if s_["geom"].within(bb["geom"].buffer(0.01)):
                            s_["years"] = s_["years"] & ONLY1 or ONLY1
                    for d in sc.decos:
                        if bb["geom"].contains(MultiPoint([(d["cx"], d["cy"])])):
                            d["years"] = ONLY1


def _street_cars(b: _Builder, axis, pos, off, crosses, ext):
    rng = b.rng
    t = -ext
    while t < ext:
        t += float(rng.uniform(5.2, 7.5))
        if any(abs(t - c) < w / 2 + 8 for c, w in crosses):
            continue
        yrs = b.car_years()
        if yrs is None:
            continue
        if axis == "p":
            x, y = b.w(pos + off, t)
            ang = b.phi + math.pi / 2
        else:
            x, y = b.w(t, pos + off)
            ang = b.phi
        if not b.region.buffer(-3).contains(box(x - 1, y - 1, x + 1, y + 1)):
            continue
        b.add_car(
            x, y, ang + float(rng.normal(0, 0.015)) + (math.pi if rng.random() < 0.5 else 0), yrs, avoid=()
        )


def _moving_cars(b: _Builder, axis, pos, off, sgn, ext):
    rng = b.rng
    for _ in range(int(rng.integers(0, 4))):
        t = float(rng.uniform(-ext, ext))
        x, y = b.w(pos + off, t) if axis == "p" else b.w(t, pos + off)
        ang = b.phi + (math.pi / 2 if axis == "p" else 0) + (math.pi if sgn < 0 else 0)
        yrs = ONLY0 if rng.random() < 0.5 else ONLY1
        if b.region.buffer(-3).contains(box(x - 1, y - 1, x + 1, y + 1)):
            b.add_car(x, y, ang, yrs, avoid=[c["geom"] for c in b.scene.cars[-30:]])


def _roof(rng) -> tuple[str, tuple]:
    r = rng.random()
    fam = "terracotta" if r < 0.58 else "slate" if r < 0.80 else "brown" if r < 0.92 else "anthracite"
    cols = ROOF_COLOURS[fam]
    base = np.array(cols[int(rng.integers(len(cols)))], float) * rng.uniform(0.92, 1.08)
    return fam, tuple(np.clip(base, 0, 255))


def _houses(b: _Builder, pa, qa, pb, qb):
    rng = b.rng
    depth = qb - qa
    mid = qa + depth * float(rng.uniform(0.45, 0.55))
    for qf, qend, d in ((qa, mid, 1.0), (qb, mid, -1.0)):
        cuts = _split(rng, pa, pb, 12.0, 21.0)
        for k in range(len(cuts) - 1):
            _lot(b, cuts[k], cuts[k + 1], qf, qend, d)


def _lot(b: _Builder, a: float, e: float, qf: float, qend: float, d: float):
    """One house lot: local p in [a, e], front at q=qf, back at q=qend, depth direction d."""
    rng, sc = b.rng, b.scene
    lw, ld = e - a, abs(qend - qf)

    def L(s0, t0, s1, t1):  # lot frame -> local box
        q0, q1 = qf + d * t0, qf + d * t1
        return (a + s0, min(q0, q1), a + s1, max(q0, q1))

    lot_poly = b.lpoly(*L(0, 0, lw, ld))
    if not lot_poly.intersects(b.region):
        return
    # garden ground
    gcls = LAWN if rng.random() < 0.7 else LAWN_DRY
    sc.ground.append((lot_poly, gcls, BOTH, 0.0))
    occupied: list[Polygon] = []
    # hedges on boundaries
    if rng.random() < 0.5:
        hw_ = float(rng.uniform(0.7, 1.2))
        sc.ground.append((b.lpoly(*L(0, ld - hw_, lw, ld)), HEDGE, BOTH, float(rng.uniform(1.5, 2.2))))
    if rng.random() < 0.35:
        hw_ = float(rng.uniform(0.6, 1.0))
        sc.ground.append((b.lpoly(*L(lw - hw_, 0.5, lw, ld)), HEDGE, BOTH, float(rng.uniform(1.5, 2.0))))
    if rng.random() < 0.2:
        sc.ground.append((b.lpoly(*L(0.2, 0, lw - 0.2, 0.5)), HEDGE, BOTH, 1.2))
    # construction / demolition states
    r = rng.random()
    house_years = BOTH
    if r < 0.06:
        house_years = ONLY1
        sc.ground.append((b.lpoly(*L(0.5, 0.5, lw - 0.5, ld - 0.5)), SOIL, ONLY0, 0.0))
    elif r < 0.08:
        house_years = ONLY0
        sc.ground.append((b.lpoly(*L(0.5, 0.5, lw - 0.5, ld - 0.5)), SOIL, ONLY1, 0.0))
    setback = float(rng.uniform(3.0, 6.5))
    side = float(rng.uniform(1.2, 2.5))
    hs = min(lw - side - 3.6, float(rng.uniform(8.5, 14.0)))
    if hs < 6.0:
        hs = lw - 2 * side
    ht = min(float(rng.uniform(8.0, 12.0)), ld - setback - 6)
    if hs < 5.0 or ht < 5.0:
        return
    left = rng.random() < 0.5
    s0 = side if left else lw - side - hs
    s1 = s0 + hs
    fam, rgb = _roof(rng)
    rtype = "gable" if rng.random() < 0.55 else "hip"
    if rng.random() < 0.1:
        rtype, rgb = "flat", FLAT_COLOURS[int(rng.integers(len(FLAT_COLOURS)))]
    pitch = math.radians(float(rng.uniform(30, 42)))
    eave = float(rng.uniform(5.0, 7.0))
    main = b.lrect(*L(s0, setback, s1, setback + ht), turn=ht > hs)
    main.update(
        roof=rtype, rgb=rgb, pitch=pitch, h=eave + (main["hw"] * math.tan(pitch) if rtype != "flat" else 0.5)
    )
    parts = [main]
    if rng.random() < 0.3:
        ws = float(rng.uniform(3.5, min(6.0, hs * 0.6)))
        wt = float(rng.uniform(3.5, 6.0))
        ws0 = s0 if rng.random() < 0.5 else s1 - ws
        if setback + ht + wt - 1 < ld - 5:
            wing = b.lrect(*L(ws0, setback + ht - 1.0, ws0 + ws, setback + ht + wt - 1.0), turn=(wt > ws))
            wr = rtype if rng.random() < 0.6 else "flat"
            wing.update(
                roof=wr,
                rgb=rgb if wr != "flat" else FLAT_COLOURS[0],
                pitch=pitch,
                h=eave - 0.8 + (wing["hw"] * math.tan(pitch) if wr != "flat" else 0.2),
            )
            parts.insert(0, wing)
    house = b.add_building(parts, house_years)
    if house is None:
        return
    occupied.append(house["geom"].buffer(0.8))
    # driveway + car
    ds0 = s1 + 0.4 if left else s0 - 3.4
    if ds0 > 0.3 and ds0 + 3.0 < lw - 0.3 and rng.random() < 0.75:
        dw = b.lpoly(*L(ds0, 0, ds0 + 3.0, setback + ht * 0.7))
        sc.ground.append((dw, PAVING if rng.random() < 0.6 else GRAVEL, BOTH, 0.0))
        occupied.append(dw)
        yrs = b.car_years()
        if yrs is not None:
            x, y = b.w(*_center(L(ds0 + 1.5, setback * 0.5 + 1.2, ds0 + 1.5, setback * 0.5 + 1.2)))
            if b.add_car(
                x, y, b.phi + math.pi / 2 + float(rng.normal(0, 0.04)) + (math.pi if d < 0 else 0), yrs
            ):
                occupied.append(sc.cars[-1]["geom"].buffer(0.3))
    # terrace
    if rng.random() < 0.5:
        tp = b.lpoly(*L(s0 + 0.5, setback + ht, s0 + hs * 0.7, setback + ht + 3.0))
        sc.ground.append((tp, PAVING, BOTH, 0.0))
        occupied.append(tp)
    back0 = setback + ht + 3.5
    # vegetable bed
    if rng.random() < 0.2 and ld - back0 > 8:
        bs = float(rng.uniform(1.5, lw - 6))
        bed = b.lpoly(*L(bs, ld - 5, bs + 4, ld - 1.5))
        sc.ground.append((bed, BED, BOTH, 0.0))
        occupied.append(bed)
    # pool
    pr = rng.random()
    pool_years = BOTH if pr < 0.16 else ONLY1 if pr < 0.26 else None
    if pool_years is not None and ld - back0 > 8.5 and lw > 9:
        pl, pw = float(rng.uniform(6, min(11.0, lw - 3.0))), float(rng.uniform(3.0, 5.0))
        ps0 = float(rng.uniform(1.5, lw - 1.5 - pl))
        pt0 = float(rng.uniform(back0, ld - 2.0 - pw))
        pr_ = b.lrect(*L(ps0, pt0, ps0 + pl, pt0 + pw))
        rc = float(rng.choice([0.0, 0.0, 0.5, 1.2]))
        water = rect(pr_["cx"], pr_["cy"], pr_["ang"], pr_["hl"], pr_["hw"])
        if rc > 0:
            water = rect(pr_["cx"], pr_["cy"], pr_["ang"], pr_["hl"] - rc, pr_["hw"] - rc).buffer(rc, 8)
        rim = water.buffer(0.35, join_style=2)
        if b.inside(rim) and not any(rim.intersects(o) for o in occupied):
            if rng.random() < 0.5:
                sc.ground.append((water.buffer(1.4, join_style=2), PAVING, pool_years, 0.0))
            sc.pools.append(
                dict(
                    oid=sc.new_id(),
                    geom=water,
                    rim=rim,
                    years=pool_years,
                    salt=int(rng.integers(1 << 30)),
                    **pr_,
                )
            )
            occupied.append(water.buffer(1.5))
    # shed
    if rng.random() < 0.18:
        ss0 = float(rng.choice([0.8, lw - 3.8]))
        shed = b.lrect(*L(ss0, ld - 4.0, ss0 + 3.0, ld - 1.2))
        shed.update(roof="flat", rgb=(120, 112, 100), pitch=0.0, h=2.4)
        g = rect(shed["cx"], shed["cy"], shed["ang"], shed["hl"], shed["hw"])
        if not any(g.intersects(o) for o in occupied):
            bb = b.add_building([shed], BOTH if rng.random() < 0.85 else ONLY1, decorate=False)
            if bb:
                occupied.append(bb["geom"].buffer(0.5))
    # solar panels on the main roof
    sr = rng.random()
    if rtype != "flat" and main.get("bid") is not None:
        syears = BOTH if sr < 0.10 else ONLY1 if sr < 0.24 else None
        if syears is not None:
            syears = syears & house_years
            if syears:
                b.add_solar_on(main, syears)
    # extension in 2026 (a new annex beside the house)
    if house_years == BOTH and rng.random() < 0.06 and back0 + 4 < ld - 4:
        ex = b.lrect(*L(s0 + 0.5, setback + ht, s0 + min(hs - 0.5, 5.5), setback + ht + 3.5))
        ex.update(roof="flat", rgb=FLAT_COLOURS[int(rng.integers(len(FLAT_COLOURS)))], pitch=0.0, h=3.2)
        g = rect(ex["cx"], ex["cy"], ex["ang"], ex["hl"], ex["hw"])
        if not any(g.intersects(o) for o in occupied[1:]):
            bb = b.add_building([ex], ONLY1, decorate=False)
            if bb:
                occupied.append(bb["geom"].buffer(0.5))
    # trees in gardens
    lot_inner = lot_poly.buffer(-1.0)
    want, placed = int(rng.integers(2, 9)), 0
    for _ in range(30):
        if placed >= want:
            break
        r_ = float(rng.uniform(1.4, 4.8))
        s_, t_ = float(rng.uniform(0, lw)), float(rng.uniform(0, ld))
        x, y = b.w(*_center(L(s_, t_, s_, t_)))
        yrs = BOTH if rng.random() < 0.86 else ONLY0
        probe = Polygon([(x + r_ * math.cos(t), y + r_ * math.sin(t)) for t in np.linspace(0, 6.2, 12)])
        if lot_inner.contains(probe) and not any(probe.intersects(o) for o in occupied):
            if b.add_tree(x, y, r_, float(rng.uniform(4, 11)), yrs, avoid=occupied):
                occupied.append(b.tree_polys[-1].buffer(-0.35 * r_))
                placed += 1
    if rng.random() < 0.05:  # a young tree planted after 2024
        s_, t_ = float(rng.uniform(2, lw - 2)), float(rng.uniform(ld - 6, ld - 2))
        x, y = b.w(*_center(L(s_, t_, s_, t_)))
        if b.add_tree(x, y, float(rng.uniform(1.2, 1.8)), 3.5, ONLY1, avoid=occupied):
            occupied.append(b.tree_polys[-1])


def _center(box4):
    return (box4[0] + box4[2]) / 2, (box4[1] + box4[3]) / 2


def _flat_block(b: _Builder, p0, q0, p1, q1, years, h, rgb=None):
    rng = b.rng
    part = b.lrect(p0, q0, p1, q1, turn=(q1 - q0) > (p1 - p0))
    part.update(roof="flat", rgb=rgb or FLAT_COLOURS[int(rng.integers(len(FLAT_COLOURS)))], pitch=0.0, h=h)
    return b.add_building([part], years), part


def _parking(b: _Builder, p0, q0, p1, q1, occupied):
    """Asphalt lot with two rows of bays facing a central aisle, cars in some bays."""
    rng, sc = b.rng, b.scene
    sc.ground.append((b.lpoly(p0, q0, p1, q1), ASPHALT, BOTH, 0.0))
    occupied.append(b.lpoly(p0, q0, p1, q1))
    for qa, qb in ((q0 + 0.5, q0 + 5.5), (q1 - 5.5, q1 - 0.5)):
        x = p0 + 1.0
        while x + 2.5 < p1 - 1.0:
            sc.markings.append(b.lpoly(x - 0.06, qa, x + 0.06, qb))
            yrs = b.car_years() if rng.random() < 0.8 else None
            if yrs is not None:
                cx, cy = b.w(x + 1.25, (qa + qb) / 2)
                b.add_car(
                    cx,
                    cy,
                    b.phi + math.pi / 2 + float(rng.normal(0, 0.03)) + (math.pi if rng.random() < 0.5 else 0),
                    yrs,
                )
            x += 2.5
        sc.markings.append(b.lpoly(x - 0.06, qa, x + 0.06, qb))


def _apartments(b: _Builder, pa, qa, pb, qb):
    rng, sc = b.rng, b.scene
    sc.ground.append((b.lpoly(pa, qa, pb, qb), LAWN, BOTH, 0.0))
    occupied: list[Polygon] = []
    depth = qb - qa
    _parking(b, pa + 4, qb - 17, pb - 4, qb - 4, occupied)
    slab_d = float(rng.uniform(11, 14))
    n = max(1, int((pb - pa - 10) // float(rng.uniform(38, 60))))
    lens = (pb - pa - 10 - 8 * (n - 1)) / n
    for k in range(n):
        p0 = pa + 5 + k * (lens + 8)
        q0 = qa + 6
        if q0 + slab_d > qb - 22:
            continue
        yrs = BOTH if rng.random() < 0.9 else ONLY1
        bb, part = _flat_block(b, p0, q0, p0 + lens, q0 + slab_d, yrs, float(rng.uniform(12, 22)))
        if bb is not None:
            occupied.append(bb["geom"].buffer(1.0))
            sr = rng.random()
            if sr < 0.35:
                b.add_solar_on(part, BOTH if sr < 0.12 else ONLY1)
    sc.ground.append((b.lpoly(pa + 2, qa + 2, pb - 2, qa + 4), GRAVEL, BOTH, 0.0))
    for _ in range(int((pb - pa) * depth / 160)):
        x, y = b.w(float(rng.uniform(pa + 3, pb - 3)), float(rng.uniform(qa + 3, qb - 19)))
        yrs = BOTH if rng.random() < 0.88 else ONLY0
        if b.add_tree(
            x,
            y,
            float(rng.uniform(2.0, 4.5)),
            float(rng.uniform(7, 16)),
            yrs,
            avoid=occupied + b.tree_polys[-6:],
        ):
            occupied.append(b.tree_polys[-1])


def _commercial(b: _Builder, pa, qa, pb, qb):
    rng, sc = b.rng, b.scene
    occupied: list[Polygon] = []
    sc.ground.append((b.lpoly(pa, qa, pb, qb), PAVING, BOTH, 0.0))
    _parking(b, pa + 3, qa + 3, pb - 3, qa + 21, occupied)
    p0, p1 = pa + 6, pb - 6
    q0, q1 = qa + 25, qb - 5
    if q1 - q0 < 12:
        return
    bb, part = _flat_block(b, p0, q0, p1, q1, BOTH, float(rng.uniform(7, 10)), rgb=(196, 196, 192))
    if bb is not None:
        b.add_solar_on(part, ONLY1 if rng.random() < 0.7 else BOTH)


def _park(b: _Builder, pa, qa, pb, qb):
    rng, sc = b.rng, b.scene
    sc.ground.append((b.lpoly(pa, qa, pb, qb), LAWN, BOTH, 0.0))
    paths = [
        b.lpoly(pa, (qa + qb) / 2 - 1.5, pb, (qa + qb) / 2 + 1.5),
        b.lpoly((pa + pb) / 2 - 1.5, qa, (pa + pb) / 2 + 1.5, qb),
    ]
    for g in paths:
        sc.ground.append((g, GRAVEL, BOTH, 0.0))
    occupied = [g.buffer(0.5) for g in paths]
    for _ in range(int((pb - pa) * (qb - qa) / 70)):
        x, y = b.w(float(rng.uniform(pa + 2, pb - 2)), float(rng.uniform(qa + 2, qb - 2)))
        yrs = BOTH if rng.random() < 0.9 else ONLY0
        b.add_tree(
            x,
            y,
            float(rng.uniform(2.5, 5.5)),
            float(rng.uniform(7, 15)),
            yrs,
            avoid=occupied + [t.buffer(-1.5) for t in b.tree_polys[-12:]],
        )
