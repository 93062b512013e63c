"""A small anchor-free detector in plain torch whose output has the YOLOv8 layout ``(B, 4+nc, A)``.

Backbone: conv/BN/SiLU stem + CSP-lite residual stages down to stride 32; an FPN-lite top-down
path merges strides 32 -> 16 -> 8; one decoupled head (classes | box) predicts at stride 8, so
a 512 px input gives A = 64 x 64 = 4096 anchor points. The box branch predicts distances
(left, top, right, bottom) from each anchor point in units of the stride; the output is
(cx, cy, w, h) in input pixels followed by per-class sigmoid scores, like an Ultralytics export.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 8


class ConvBN(nn.Sequential):
    """Conv -> BatchNorm -> SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, k, s, k // 2, bias=False),
            nn.BatchNorm2d(cout),
            nn.SiLU(inplace=True),
        )


class Bottleneck(nn.Module):
    """Residual 3x3 -> 3x3 block."""

    def __init__(self, c: int):
        super().__init__()
        self.a = ConvBN(c, c, 3)
        self.b = ConvBN(c, c, 3)

    def forward(self, x):
        return x + self.b(self.a(x))


class CSP(nn.Module):
    """CSP-lite (C2f-like): split, n bottlenecks on one half, concat, 1x1 fuse."""

    def __init__(self, cin: int, cout: int, n: int = 1):
        super().__init__()
        h = cout // 2
        self.stem = ConvBN(cin, 2 * h, 1)
        self.blocks = nn.ModuleList(Bottleneck(h) for _ in range(n))
        self.fuse = ConvBN((2 + n) * h, cout, 1)

    def forward(self, x):
        a, b = self.stem(x).chunk(2, 1)
        outs = [a, b]
        for blk in self.blocks:
            b = blk(b)
            outs.append(b)
        return self.fuse(torch.cat(outs, 1))


class TinyDet(nn.Module):
    """Stride-8 anchor-free detector; ``forward`` returns ``(B, 4+nc, A)`` (YOLOv8 layout)."""

    def __init__(self, nc: int = 5, width: tuple = (24, 48, 64, 96, 128), head: int = 64):
        super().__init__()
        c1, c2, c3, c4, c5 = width
        self.nc = nc
        self.stem = nn.Sequential(ConvBN(3, c1, 3, 2), ConvBN(c1, c2, 3, 2), CSP(c2, c2, 1))  # /4
        self.s8 = nn.Sequential(ConvBN(c2, c3, 3, 2), CSP(c3, c3, 2))  # /8
        self.s16 = nn.Sequential(ConvBN(c3, c4, 3, 2), CSP(c4, c4, 2))  # /16
        self.s32 = nn.Sequential(ConvBN(c4, c5, 3, 2), CSP(c5, c5, 1))  # /32
        self.lat32 = ConvBN(c5, c4, 1)
        self.td16 = CSP(2 * c4, c4, 1)
        self.lat16 = ConvBN(c4, c3, 1)
        self.td8 = CSP(2 * c3, head, 1)
        self.cls = nn.Sequential(ConvBN(head, head, 3), ConvBN(head, head, 3), nn.Conv2d(head, nc, 1))
        self.box = nn.Sequential(ConvBN(head, head, 3), ConvBN(head, head, 3), nn.Conv2d(head, 4, 1))
        self._init_bias()

    def _init_bias(self) -> None:
        prior = 0.01
        nn.init.constant_(self.cls[-1].bias, -math.log((1 - prior) / prior))
        nn.init.constant_(self.box[-1].bias, 1.0)  # softplus(1) * 8 ~ 10 px distances

    def raw(self, x):
        """Class logits (B, nc, h, w) and box distances in stride units (B, 4, h, w)."""
        x8 = self.s8(self.stem(x))
        x16 = self.s16(x8)
        x32 = self.s32(x16)
        p16 = self.td16(torch.cat([F.interpolate(self.lat32(x32), scale_factor=2.0, mode="nearest"), x16], 1))
        p8 = self.td8(torch.cat([F.interpolate(self.lat16(p16), scale_factor=2.0, mode="nearest"), x8], 1))
        return self.cls(p8), F.softplus(self.box(p8))

    @staticmethod
    def anchors(h: int, w: int, device=None, dtype=torch.float32):
        """Anchor point centres (A, 2) in input pixels, row-major like the flattened maps."""
        ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) * STRIDE
        xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) * STRIDE
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)

    def forward(self, x):
        logits, dist = self.raw(x)
        b, _, h, w = logits.shape
        a = self.anchors(h, w, x.device, x.dtype).t().unsqueeze(0)  # (1, 2, A)
        d = dist.reshape(b, 4, h * w) * STRIDE
        x1y1 = a - d[:, :2]
        x2y2 = a + d[:, 2:]
        xywh = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], 1)
        return torch.cat([xywh, torch.sigmoid(logits.reshape(b, self.nc, h * w))], 1)


def count_flops(model: nn.Module, size: int = 512) -> float:
    """Multiply-accumulates x 2 of the convolutions for one ``size`` x ``size`` image (GFLOPs)."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total += 2 * k * out.numel() // out.shape[0]

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    model.train(was)
    for h in hs:
        h.remove()
    return total / 1e9
