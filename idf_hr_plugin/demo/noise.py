"""Deterministic value noise defined in world coordinates (seamless across tiles and resolutions)."""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def hash01(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """Uniform floats in [0, 1) from integer lattice coordinates (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = i.astype(np.int64).astype(np.uint64) * _M1
        h ^= j.astype(np.int64).astype(np.uint64) * _M2 + np.uint64(salt & 0xFFFFFFFF) * _M3
        h ^= h >> np.uint64(30)
        h *= _M2
        h ^= h >> np.uint64(27)
        h *= _M3
        h ^= h >> np.uint64(31)
    return ((h >> np.uint64(40)).astype(np.float32)) * np.float32(1.0 / (1 << 24))


def _axis_weights(coords: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray, int]:
    f = coords / cell
    base = int(np.floor(f.min()))
    i0 = np.floor(f).astype(np.int64) - base
    w = (f - np.floor(f)).astype(np.float32)
    w = w * w * (3.0 - 2.0 * w)  # smoothstep
    return i0, w, base


def value_noise(xs: np.ndarray, ys: np.ndarray, cell: float, salt: int) -> np.ndarray:
    """Smooth noise in [-1, 1] sampled at pixel centres ``xs`` (columns) x ``ys`` (rows), metres."""
    ix, wx, bx = _axis_weights(xs, cell)
    iy, wy, by = _axis_weights(ys, cell)
    nx, ny = int(ix.max()) + 2, int(iy.max()) + 2
    gi, gj = np.meshgrid(np.arange(bx, bx + nx), np.arange(by, by + ny))
    lat = hash01(gi, gj, salt) * 2.0 - 1.0
    a = lat[:, ix] * (1.0 - wx) + lat[:, ix + 1] * wx
    return (a[iy] * (1.0 - wy)[:, None] + a[iy + 1] * wy[:, None]).astype(np.float32)


def fbm(
    xs: np.ndarray, ys: np.ndarray, cell: float, octaves: int, salt: int, min_cell: float = 0.0
) -> np.ndarray:
    """Fractal sum of value noise, finest octave no smaller than ``min_cell``; roughly in [-1, 1]."""
    out = np.zeros((len(ys), len(xs)), np.float32)
    amp, total = 1.0, 0.0
    for k in range(octaves):
        c = cell / (2**k)
        if c < min_cell:
            break
        out += np.float32(amp) * value_noise(xs, ys, c, salt + 7919 * k)
        total += amp
        amp *= 0.55
    return out / np.float32(max(total, 1e-6))


def pixel_noise(rows: np.ndarray, cols: np.ndarray, salt: int) -> np.ndarray:
    """Per-pixel noise in about [-1, 1] (sum of two uniforms) from global pixel indices."""
    gi, gj = np.meshgrid(cols, rows)
    return hash01(gi, gj, salt) + hash01(gi, gj, salt + 1) - 1.0


def pixel_uniforms(rows: np.ndarray, cols: np.ndarray, salt: int) -> list[np.ndarray]:
    """Four independent per-pixel uniform fields in [0, 1) from one 64-bit hash per pixel."""
    gi, gj = np.meshgrid(cols, rows)
    with np.errstate(over="ignore"):
        h = gi.astype(np.uint64) * _M1
        h ^= gj.astype(np.uint64) * _M2 + np.uint64(salt & 0xFFFFFFFF) * _M3
        h ^= h >> np.uint64(30)
        h *= _M2
        h ^= h >> np.uint64(27)
        h *= _M3
        h ^= h >> np.uint64(31)
    out = []
    for k in range(4):
        out.append(
            ((h >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.float32) * np.float32(1.0 / 65536)
        )
    return out
