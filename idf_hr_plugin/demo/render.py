"""Raster rendering of a :class:`Scene` window for one vintage, like a true-colour aerial photo.

Vectorised: every object family is burnt once with ``rasterio.features.rasterize`` into an id
map; per-pixel shading then gathers each pixel's object parameters by id. All textures are
value noise in world coordinates, so adjacent tiles and the 5 cm subset join seamlessly.
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine
from rasterio.features import rasterize
from scipy import ndimage
from shapely import affinity
from shapely.geometry import MultiPoint, Polygon

from .noise import fbm, pixel_uniforms, value_noise
from .scene import ASPHALT, BED, GRAVEL, HEDGE, LAWN, LAWN_DRY, PAVING, SIDEWALK, SOIL, SUN, Scene

MARGIN = 8

# ground palettes: base colour, alternate colour (mixed by large-scale noise), texture amplitudes
_PAL = np.zeros((10, 3), np.float32)
_ALT = np.zeros((10, 3), np.float32)
_AMP = np.zeros((10, 3), np.float32)  # mid, fine, pixel
for _c, _a, _b, _t in (
    (LAWN, (100, 120, 68), (142, 140, 92), (0.16, 0.20, 0.07)),
    (LAWN_DRY, (154, 146, 104), (118, 124, 78), (0.16, 0.20, 0.07)),
    (SOIL, (150, 128, 104), (124, 106, 88), (0.12, 0.14, 0.08)),
    (PAVING, (182, 176, 166), (156, 150, 142), (0.05, 0.05, 0.04)),
    (GRAVEL, (190, 182, 164), (168, 160, 144), (0.05, 0.08, 0.07)),
    (ASPHALT, (100, 100, 102), (86, 86, 90), (0.07, 0.07, 0.08)),
    (SIDEWALK, (160, 156, 150), (142, 138, 134), (0.05, 0.04, 0.04)),
    (HEDGE, (52, 74, 42), (70, 88, 50), (0.22, 0.35, 0.12)),
    (BED, (108, 94, 74), (86, 100, 60), (0.14, 0.18, 0.08)),
):
    _PAL[_c], _ALT[_c], _AMP[_c] = _a, _b, _t
ROAD_BURN = {"sidewalk": SIDEWALK, "asphalt": ASPHALT}


def sun_vectors(year: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit vector towards the sun (x east, y north, z up) and the plan direction of shadows."""
    az, el = (math.radians(a) for a in SUN[year])
    s = np.array([math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), math.sin(el)], np.float32)
    return s, -np.array([math.sin(az), math.cos(az)], np.float32)


def _cast(poly: Polygon, corners_z, d: np.ndarray, k: float) -> Polygon:
    """Shadow of a prism: convex hull of footprint points shifted by height/tan(elevation)."""
    pts = [(x + d[0] * z * k, y + d[1] * z * k) for (x, y), z in corners_z]
    pts += list(poly.exterior.coords)
    return MultiPoint(pts).convex_hull


def _corners(p: dict):
    c, s = math.cos(p["ang"]), math.sin(p["ang"])
    return [
        (p["cx"] + u * c - v * s, p["cy"] + u * s + v * c)
        for u, v in ((-p["hl"], -p["hw"]), (p["hl"], -p["hw"]), (p["hl"], p["hw"]), (-p["hl"], p["hw"]))
    ]


def _local(p_cx, p_cy, p_ang, X, Y):
    c, s = np.cos(p_ang), np.sin(p_ang)
    dx, dy = X - p_cx, Y - p_cy
    return dx * c + dy * s, -dx * s + dy * c


def _arr(recs: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] for r in recs] or [0.0], np.float32)


class _Layer:
    """Geometries with their bounds, for fast window selection."""

    def __init__(self, items: list[tuple]):
        self.items = [it for it in items if not it[0].is_empty]  # (geom, payload)
        self.bounds = np.array([g.bounds for g, _ in self.items], np.float64).reshape(-1, 4)

    def pick(self, wb) -> list[tuple]:
        b = self.bounds
        ok = (b[:, 0] <= wb[2]) & (b[:, 2] >= wb[0]) & (b[:, 1] <= wb[3]) & (b[:, 3] >= wb[1])
        return [self.items[j] for j in np.nonzero(ok)[0]]


def prepare(scene: Scene, year: int) -> dict:
    """Per-vintage layers (objects alive that year, shadow outlines), cached on the scene."""
    cache = scene.__dict__.setdefault("_prepared", {})
    if year in cache:
        return cache[year]
    sun, sdir = sun_vectors(year)
    k = 1.0 / math.tan(math.asin(float(sun[2])))
    live = lambda recs: [r for r in recs if year in r["years"]]  # noqa: E731
    parts = sorted(live(scene.parts), key=lambda p: p["h"])
    trees = sorted(live(scene.trees), key=lambda t: t["h"])
    cars, pools, sols, decos = live(scene.cars), live(scene.pools), live(scene.solars), live(scene.decos)
    sh = []
    for p in parts:
        cz = [
            (pt, p["h"] - (p["hw"] * math.tan(p["pitch"]) if p["roof"] != "flat" else 0))
            for pt in _corners(p)
        ]
        if p["roof"] != "flat":
            c, s = math.cos(p["ang"]), math.sin(p["ang"])
            rl = p["hl"] if p["roof"] == "gable" else max(p["hl"] - p["hw"], 0.0)
            cz += [((p["cx"] + sg * rl * c, p["cy"] + sg * rl * s), p["h"]) for sg in (-1, 1)]
        sh.append((_cast(rect_poly(p), cz, sdir, k), 1))
    for t in trees:
        hc = t["h"] - t["r"]
        g = t["geom"]
        a = affinity.translate(g, sdir[0] * (hc - 0.4 * t["r"]) * k, sdir[1] * (hc - 0.4 * t["r"]) * k)
        b = affinity.translate(g, sdir[0] * (hc + 0.4 * t["r"]) * k, sdir[1] * (hc + 0.4 * t["r"]) * k)
        sh.append((a.union(b).convex_hull, 1))
        trunk = MultiPoint(
            [(t["cx"], t["cy"]), (t["cx"] + sdir[0] * hc * k, t["cy"] + sdir[1] * hc * k)]
        ).buffer(0.18, 4)
        sh.append((trunk, 1))
    hedges = [(g, hh) for g, c, yrs, hh in scene.ground if c == HEDGE and year in yrs]
    for g, hh in hedges:
        sh.append((_cast(g, [(pt, hh) for pt in g.exterior.coords], sdir, k), 1))
    sh += [(g, 0) for g, _ in hedges]
    ground = [(g, c) for g, c, yrs, _ in scene.ground if year in yrs] + [
        (g, ROAD_BURN[k_]) for g, k_ in scene.roads
    ]
    out = dict(
        ground=_Layer(ground),
        marks=_Layer([(g, 1) for g in scene.markings + scene.crossings]),
        pools=_Layer([(p["geom"], p) for p in pools]),
        rims=_Layer([(p["rim"], 1) for p in pools]),
        cars=_Layer([(c["geom"], c) for c in cars]),
        car_shadows=_Layer([(_cast(c["geom"], [(pt, 1.5) for pt in _corners(c)], sdir, k), 1) for c in cars]),
        shadows=_Layer(sh),
        parts=_Layer([(rect_poly(p), p) for p in parts]),
        decos=_Layer([(rect_poly(d), d) for d in decos]),
        deco_shadows=_Layer(
            [
                (_cast(rect_poly(d), [(pt, 0.8) for pt in _corners(d)], sdir, k), 1)
                for d in decos
                if d["kind"] != "velux"
            ]
        ),
        solars=_Layer([(s_["geom"], s_) for s_ in sols]),
        trees=_Layer([(t["geom"], t) for t in trees]),
    )
    cache[year] = out
    return out


def render_window(
    scene: Scene, year: int, x0: float, ytop: float, width: int, height: int, res: float
) -> np.ndarray:
    """Render ``width`` x ``height`` pixels of ``res`` metres with upper-left corner (x0, ytop)."""
    m = MARGIN
    W, H = width + 2 * m, height + 2 * m
    tr = Affine(res, 0, x0 - m * res, 0, -res, ytop + m * res)
    xs = (x0 + (np.arange(W) - m + 0.5) * res).astype(np.float64)
    ys = (ytop - (np.arange(H) - m + 0.5) * res).astype(np.float64)
    gc0 = int(round((x0 - scene.bounds[0]) / res)) - m
    gr0 = int(round((scene.bounds[3] - ytop) / res)) - m
    rows, cols = np.arange(gr0, gr0 + H), np.arange(gc0, gc0 + W)
    sd = scene.seed * 101
    sun, _ = sun_vectors(year)
    shape = (H, W)
    L = prepare(scene, year)
    wb = (x0 - m * res, ytop - (height + m) * res, x0 + (width + m) * res, ytop + m * res)

    def burn(shapes, fill=0, dtype="int32"):
        if not shapes:
            return np.full(shape, fill, dtype)
        return rasterize(shapes, out_shape=shape, transform=tr, fill=fill, dtype=dtype)

    # ---------------- textures --------------------------------------------------------------
    n_big = fbm(xs, ys, 40.0, 2, sd + 1)
    n_mid = fbm(xs, ys, 4.0, 3, sd + 2, min_cell=res * 1.5)
    n_fine = fbm(xs, ys, 1.0, 3, sd + 3, min_cell=res * 1.2)
    u0, u1, u2, u3 = pixel_uniforms(rows, cols, sd + 4)
    n_px = u0 + u1 - 1.0
    del u0, u1
    n_year = value_noise(xs, ys, 25.0, sd + year)

    # ---------------- ground ----------------------------------------------------------------
    cls = burn(L["ground"].pick(wb), fill=LAWN, dtype="uint8")
    mix = np.clip(0.5 + 0.9 * n_big + (0.25 if year == 2026 else 0.0) * n_year, 0, 1)[..., None]
    img = _PAL[cls] * (1 - mix) + _ALT[cls] * mix
    amp = _AMP[cls]
    img *= (1 + amp[..., 0] * n_mid + amp[..., 1] * n_fine + amp[..., 2] * n_px)[..., None]
    # asphalt patches and wear
    asph = cls == ASPHALT
    img[asph] *= (1 - 0.08 * (value_noise(xs, ys, 2.5, sd + 9) > 0.55))[asph][:, None]
    hedge = cls == HEDGE
    if hedge.any():
        img[hedge] *= (0.75 + 0.5 * np.clip(0.5 + n_fine, 0, 1))[hedge][:, None]
    # painted markings with 3x supersampling where pixels are coarse
    ss = 3 if res > 0.1 else 1
    mk = L["marks"].pick(wb)
    if mk:
        big = rasterize(
            mk, out_shape=(H * ss, W * ss), transform=tr * Affine.scale(1 / ss), fill=0, dtype="uint8"
        )
        cov = (
            big.reshape(H, ss, W, ss).mean(axis=(1, 3), dtype=np.float32)
            if ss > 1
            else big.astype(np.float32)
        )
        cov *= 0.82 + 0.18 * np.clip(0.5 + n_fine, 0, 1)
        img = img * (1 - cov[..., None]) + np.array([226, 226, 220], np.float32) * cov[..., None]

    # ---------------- pools -----------------------------------------------------------------
    pools = [p for _, p in L["pools"].pick(wb)]
    if pools:
        rim = burn(L["rims"].pick(wb))
        img[rim > 0] = np.array([218, 214, 204], np.float32) * (1 + 0.04 * n_px[rim > 0])[:, None]
        pid = burn([(p["geom"], i + 1) for i, p in enumerate(pools)])
        r_, c_ = np.nonzero(pid)
        if len(r_):
            i = pid[r_, c_] - 1
            u, v = _local(_arr(pools, "cx")[i], _arr(pools, "cy")[i], _arr(pools, "ang")[i], xs[c_], ys[r_])
            hl, hw = _arr(pools, "hl")[i], _arr(pools, "hw")[i]
            t = np.clip((u / hl + 1) / 2, 0, 1)[:, None]
            shallow, deep = np.array([104, 212, 216], np.float32), np.array([40, 150, 182], np.float32)
            col = shallow * (1 - t) + deep * t
            edge = np.minimum(hl - np.abs(u), hw - np.abs(v))
            col *= (1 - 0.22 * np.clip(1 - edge / 0.25, 0, 1))[:, None]
            caust = np.clip(n_fine[r_, c_] * 2.2, -1, 1)
            col += (14 * caust)[:, None] + np.array([6, 6, 4]) * n_px[r_, c_][:, None]
            img[r_, c_] = col

    # ---------------- car shadows, cars -----------------------------------------------------
    cars = [c for _, c in L["cars"].pick(wb)]
    if cars:
        csh = burn(L["car_shadows"].pick(wb), dtype="uint8")
        csh = ndimage.gaussian_filter(csh.astype(np.float32), max(0.5, 0.12 / res))
        img *= (1 - 0.5 * csh)[..., None]
        cid = burn([(c["geom"], i + 1) for i, c in enumerate(cars)])
        r_, c_ = np.nonzero(cid)
        if len(r_):
            i = cid[r_, c_] - 1
            u, v = _local(_arr(cars, "cx")[i], _arr(cars, "cy")[i], _arr(cars, "ang")[i], xs[c_], ys[r_])
            un, vn = u / _arr(cars, "hl")[i], v / _arr(cars, "hw")[i]
            body = np.array([c["rgb"] for c in cars], np.float32)[i]
            van = np.array([c["van"] for c in cars])[i]
            glass = np.array([36, 40, 48], np.float32)
            ws = (un > 0.16) & (un < 0.46) & (np.abs(vn) < 0.86)
            ws |= van & (un > 0.5) & (un < 0.68) & (np.abs(vn) < 0.86)
            rear = ~van & (un > -0.8) & (un < -0.6) & (np.abs(vn) < 0.8)
            side = ~van & (un > -0.6) & (un < 0.16) & (np.abs(vn) > 0.7) & (np.abs(vn) < 0.9)
            roof = ~van & (un >= -0.6) & (un <= 0.16) & (np.abs(vn) <= 0.7)
            col = body.copy()
            col[roof] *= 1.06
            col[ws | rear | side] = glass + 18 * np.clip((un[ws | rear | side] + 0.6), 0, 1)[:, None]
            lit = 0.88 + 0.12 * np.sign(
                vn * (-np.sin(_arr(cars, "ang")[i]) * sun[0] + np.cos(_arr(cars, "ang")[i]) * sun[1])
            )
            col *= lit[:, None]
            outline = (np.abs(vn) > 0.9) | (np.abs(un) > 0.95)
            col[outline] *= 0.68
            col *= (1 + 0.03 * n_px[r_, c_])[:, None]
            img[r_, c_] = col

    # ---------------- cast shadows of buildings, trees, hedges on the ground ----------------
    parts = [p for _, p in L["parts"].pick(wb)]
    trees = [t for _, t in L["trees"].pick(wb)]
    sh = L["shadows"].pick(wb)
    if sh:
        smask = burn(sh, dtype="uint8").astype(np.float32)
        smask = ndimage.gaussian_filter(smask, max(0.5, 0.15 / res))
        img *= 1 - smask[..., None] * np.array([0.60, 0.57, 0.48], np.float32)

    # ---------------- roofs ------------------------------------------------------------------
    if parts:
        bid = burn([(g, j + 1) for j, (g, _) in enumerate(L["parts"].pick(wb))])
        r_, c_ = np.nonzero(bid)
        if len(r_):
            i = bid[r_, c_] - 1
            ang = _arr(parts, "ang")[i]
            hl, hw = _arr(parts, "hl")[i], _arr(parts, "hw")[i]
            u, v = _local(_arr(parts, "cx")[i], _arr(parts, "cy")[i], ang, xs[c_], ys[r_])
            code = np.array([{"gable": 0, "hip": 1, "flat": 2}[p["roof"]] for p in parts])[i]
            pitch = _arr(parts, "pitch")[i]
            de_u, de_v = hl - np.abs(u), hw - np.abs(v)
            end = (code == 1) & (de_u < de_v)
            ca, sa = np.cos(ang), np.sin(ang)
            # plan normal of each roof face
            su, sv = np.sign(u), np.sign(v)
            nx = np.where(end, su * ca, -sv * sa)
            ny = np.where(end, su * sa, sv * ca)
            sp, cp = np.sin(pitch), np.cos(pitch)
            flat = code == 2
            nx, ny, nz = np.where(flat, 0, nx * sp), np.where(flat, 0, ny * sp), np.where(flat, 1, cp)
            lam = np.clip(nx * sun[0] + ny * sun[1] + nz * sun[2], 0, 1)
            shade = (0.58 + 0.55 * lam) / (0.58 + 0.55 * sun[2])
            base = np.array([p["rgb"] for p in parts], np.float32)[i]
            d_eave = np.where(end, de_u, de_v)
            tex = 1 + 0.07 * n_mid[r_, c_] + 0.05 * n_fine[r_, c_] + 0.05 * n_px[r_, c_]
            courses = np.clip((0.33 / res - 2.0) / 3.0, 0, 1)
            if courses > 0:
                tex *= np.where(
                    flat, 1.0, 1 - 0.09 * courses * (0.5 + 0.5 * np.cos(2 * np.pi * d_eave / 0.33))
                )
            # gravel on flat roofs, parapet, parapet shadow
            tex = np.where(flat, 1 + 0.1 * n_fine[r_, c_] + 0.09 * n_px[r_, c_], tex)
            d_edge = np.minimum(de_u, de_v)
            parapet = flat & (d_edge < 0.35) & (hw > 2.0)
            tex = np.where(parapet, tex * 1.12, tex)
            su_sun = np.sign(ca * sun[0] + sa * sun[1])
            sv_sun = np.sign(-sa * sun[0] + ca * sun[1])
            ds = np.minimum(hl - u * su_sun, hw - v * sv_sun)
            tex = np.where(flat & (hw > 2.0) & (ds >= 0.35) & (ds < 0.9), tex * 0.8, tex)
            # ridge and hip lines, gutters
            ridge_w = max(0.12, res * 0.6)
            ridge = np.where(code == 0, np.abs(v), np.where(code == 1, np.abs(de_u - de_v) * 0.7, 99))
            ridge = np.minimum(
                ridge, np.where(code == 1, np.abs(v) + np.maximum(0, (hl - hw) - np.abs(u)) * 99, 99)
            )
            tex *= 1 + 0.10 * np.clip(1 - ridge / ridge_w, 0, 1)
            tex *= np.where(~flat & (d_edge < 0.18), 0.8, 1.0)
            moss = np.clip(n_mid[r_, c_] * 3 - 1.6, 0, 1) * (~flat)
            col = base * (shade * tex)[:, None]
            col = col * (1 - 0.35 * moss[:, None]) + np.array([70, 76, 50], np.float32) * 0.35 * moss[:, None]
            img[r_, c_] = col
        # roof furniture and its little shadows
        decos = [d for _, d in L["decos"].pick(wb)]
        if decos:
            dsh = L["deco_shadows"].pick(wb)
            if dsh:
                dm = burn(dsh, dtype="uint8").astype(bool) & (bid > 0)
                img[dm] *= np.array([0.62, 0.6, 0.56], np.float32)
            did = burn([(g, j + 1) for j, (g, _) in enumerate(L["decos"].pick(wb))])
            r2, c2 = np.nonzero(did)
            if len(r2):
                kinds = {
                    "chimney": (176, 150, 132),
                    "hvac": (196, 196, 194),
                    "skylight": (86, 96, 108),
                    "velux": (54, 62, 76),
                }
                col = np.array([kinds[d["kind"]] for d in decos], np.float32)[did[r2, c2] - 1]
                img[r2, c2] = col * (1 + 0.04 * n_px[r2, c2])[:, None]

    # ---------------- solar panels -----------------------------------------------------------
    sols = [s_ for _, s_ in L["solars"].pick(wb)]
    if sols:
        sid = burn([(s_["geom"], j + 1) for j, s_ in enumerate(sols)])
        r_, c_ = np.nonzero(sid)
        if len(r_):
            i = sid[r_, c_] - 1
            hl, hw = _arr(sols, "hl")[i], _arr(sols, "hw")[i]
            mu, mv = _arr(sols, "mu")[i], _arr(sols, "mv")[i]
            u, v = _local(_arr(sols, "cx")[i], _arr(sols, "cy")[i], _arr(sols, "ang")[i], xs[c_], ys[r_])
            fu, fv = np.mod(u + hl, mu), np.mod(v + hw, mv)
            dline = np.minimum(np.minimum(fu, mu - fu), np.minimum(fv, mv - fv))
            dline = np.minimum(dline, np.minimum(hl - np.abs(u), hw - np.abs(v)) * 0.6)
            lw = 0.025
            line = np.clip((lw + res / 2 - dline) / res, 0, 1) * min(1.0, 2 * lw / res * 1.6)
            lit = _arr(sols, "lit")[i]
            modid = np.floor((u + hl) / mu) * 31 + np.floor((v + hw) / mv) * 7 + i * 13
            var = ((modid * 0.6180339) % 1.0) - 0.5
            cell = (
                np.array([26, 32, 56], np.float32) * (lit * (1 + 0.08 * var + 0.04 * n_px[r_, c_]))[:, None]
            )
            cell += (10 * np.clip((v / hw + 1) / 2, 0, 1))[:, None] * np.array([0.6, 0.8, 1.2], np.float32)
            frame = np.array([150, 156, 166], np.float32)
            img[r_, c_] = cell * (1 - line[:, None]) + frame * line[:, None]

    # ---------------- tree crowns ------------------------------------------------------------
    if trees:
        tid = burn([(t["geom"], j + 1) for j, t in enumerate(trees)])
        r_, c_ = np.nonzero(tid)
        if len(r_):
            i = tid[r_, c_] - 1
            rr = _arr(trees, "r")[i]
            dx = (xs[c_] - _arr(trees, "cx")[i]) / rr
            dy = (ys[r_] - _arr(trees, "cy")[i]) / rr
            rho2 = dx * dx + dy * dy
            conifer = np.array([t["conifer"] for t in trees])[i]
            clump_cell = np.where(conifer, 0.45, 0.9)
            del clump_cell
            clump = np.clip(0.5 + 0.9 * n_fine[r_, c_] + 0.4 * n_mid[r_, c_], 0, 1)
            # bumpy sphere normal: clumps tilt the surface
            nz = np.sqrt(np.clip(1 - 0.8 * rho2, 0.05, 1))
            nxy = 0.9
            gx, gy = np.gradient(n_fine, axis=1), np.gradient(n_fine, axis=0)
            bx = gx[r_, c_] * (4.0 / max(res, 0.05)) * 0.05
            by = -gy[r_, c_] * (4.0 / max(res, 0.05)) * 0.05
            nx, ny = dx * nxy + bx, dy * nxy + by
            norm = np.sqrt(nx * nx + ny * ny + nz * nz)
            lam = np.clip((nx * sun[0] + ny * sun[1] + nz * sun[2]) / norm, 0, 1)
            shade = (0.30 + 0.88 * lam) * (0.45 + 0.85 * clump) * (1 + 0.14 * n_px[r_, c_])
            shade *= np.where(rho2 > 0.85, 0.85, 1.0)
            shade *= np.where(conifer, 0.85, 1.0)
            base = np.array([t["rgb"] for t in trees], np.float32)[i]
            col = base * shade[:, None]
            col += (np.clip(lam * clump - 0.55, 0, 1) * 40)[:, None] * np.array([0.9, 1.0, 0.45], np.float32)
            img[r_, c_] = col

    # ---------------- camera: MTF blur, haze, noise ------------------------------------------
    for ch in range(3):
        img[..., ch] = ndimage.gaussian_filter(img[..., ch], 0.55)
    img = img * 0.94 + np.array([9, 11, 15], np.float32)
    v0, v1, v2, v3 = pixel_uniforms(rows, cols, sd + 77)
    img += (2.2 * (u2 + u3 - 1.0))[..., None]
    for ch, f in enumerate((v0, v1, v2)):
        img[..., ch] += 2.4 * (f - 0.5)
    del v3
    img = img[m:-m, m:-m]
    # per-frame vignetting
    yy, xx = np.linspace(-1, 1, height, dtype=np.float32), np.linspace(-1, 1, width, dtype=np.float32)
    vig = 1 - 0.035 * (yy[:, None] ** 2 + xx[None, :] ** 2) / 2
    img *= vig[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def rect_poly(p: dict) -> Polygon:
    """Footprint polygon of a rotated-rectangle record."""
    return Polygon(_corners(p))
