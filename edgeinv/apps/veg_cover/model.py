"""The cover network (training side, torch): a small fully-convolutional net of depthwise-separable blocks.

Input: the per-pixel channels of :mod:`.features` (any H, W). Output, per pixel: the cover fraction
(z-scored during training) and the log-variance of its Gaussian predictive distribution, as
:mod:`edgeinv.common.train` expects for a target with ``uncertainty=True``. Blocks follow
MobileNet's depthwise-separable convolution (Howard et al. 2017, arXiv:1704.04861): a 3 x 3
depthwise convolution for spatial context (mixed pixels, shadows next to plants), a 1 x 1 pointwise
convolution for the spectral mixing, batch norm, residual, then ReLU. The receptive-field radius is
``receptive_radius``; the tiler's margin must be at least that.

Shape for the edge runtime (issue 13, ONNX Runtime on one thread, 272 px tiles, thread CPU time:
``python -m edgeinv.apps.veg_cover.shape_bench``, figures in docs/apps/veg_cover.md): the net is
memory-bound -- every operator streams a tile x tile x width activation -- so time follows the number
of operators and the activation size, not the multiply-adds. The coarse (unmixing) nets therefore
work on **2 x 2 pixel groups** (space-to-depth, like the first layers of YOLOv5's Focus and of
TResNet's SpaceToDepth stem): a 2 x 2 stride-2 stem, the blocks at a quarter of the positions, a 2 x 2
stride-2 transposed convolution back to one value per pixel, plus a per-pixel linear path from the
input (the groups' 16 channels cannot carry every pixel's own mixing: 0.082 -> 0.071 held-out RMSE
in the same 10 epochs). Students: width 16 (ORT's NCHWc block on AVX-512; 24 was slower), two blocks;
teachers width 32 (RGB 48). Measured: the student shape 2.7 ms FP32 against 5.2-5.7 ms of the former
full-resolution student in INT8. The segmentation (``*_fine``) nets stay at full resolution. The exported graph
runs the per-pixel path as a MatMul (:meth:`CoverNet._skip_matmul`, stop 25: ORT's NCHWc 1 x 1 Conv on the
7-channel input was 57 % of the teacher's profile).
"""

from __future__ import annotations

import torch
from torch import nn

S2D = {"s2d": 2, "pixel_skip": True}  # space-to-depth 2 x 2 (issue 13): the blocks at a quarter of the positions

ARCH = {  # (size, config) -> (width, dilations of the blocks[, CoverNet options])
    # coarse (unmixing) path: multispectral and red+NIR on 2 x 2 groups
    ("teacher", "multispectral5"): (16, (1, 2), S2D),
    ("teacher", "red_nir"): (16, (1, 2), S2D),
    ("student", "multispectral5"): (16, (2,), S2D),
    ("student", "red_nir"): (16, (2,), S2D),
    # RGB, without NIR, needs the wider teacher and full resolution (on 2 x 2 groups its held-out pixel RMSE
    # was 0.151-0.155 against 0.127-0.129: it stays on the former shape)
    ("teacher", "rgb"): (32, (1, 2, 1)),
    ("student", "rgb"): (16, (1, 2)),
    # segmentation path: normalised inputs, a per-pixel decision with a little context (edges, JPEG blocks)
    ("teacher", "red_nir_fine"): (16, (1, 2, 1)),
    ("teacher", "rgb_fine"): (16, (1, 2, 1)),
    ("student", "red_nir_fine"): (16, (1, 2)),
    ("student", "rgb_fine"): (16, (1, 2)),
}


class SeparableBlock(nn.Module):
    """Depthwise 3x3 (dilated) -> BN -> ReLU -> pointwise 1x1 -> BN, plus the input, then ReLU (fusable)."""

    def __init__(self, channels: int, dilation: int = 1, *, relu_after_add: bool = True):
        super().__init__()
        self.relu_after_add = relu_after_add  # False: the former order, ReLU before the add (shape_bench)
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation,
                                   groups=channels, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        y = self.bn2(self.pointwise(self.act(self.bn1(self.depthwise(x)))))
        return self.act(x + y) if self.relu_after_add else x + self.act(y)


class FullBlock(nn.Module):
    """Ordinary (dense) 3x3 conv (dilated) -> BN, plus the input, then ReLU: one fused ORT operator per block."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(x + self.bn(self.conv(x)))


BLOCKS = {"separable": SeparableBlock, "full": FullBlock}


class CoverNet(nn.Module):
    """Per-pixel cover (z-score) and its log-variance from ``in_channels`` feature maps.

    ``s2d`` > 1 (space-to-depth, issue 13): the stem is an ``s2d`` x ``s2d`` convolution of stride
    ``s2d`` -- each ``s2d`` x ``s2d`` pixel group becomes one position with ``width`` channels, which
    sees all its pixels -- the blocks work at 1/s2d^2 of the positions, and the head is the transposed
    convolution back (depth-to-space: every pixel of the group gets its own output), so the map keeps
    full resolution. Groups start at -(s2d - 1) (the stem's zero padding), so any height/width works; the
    phase follows the input's origin: tiles must start at multiples of ``s2d`` (:mod:`.tiling`).
    """

    def __init__(self, in_channels: int, width: int = 32, dilations=(1, 2, 1), *, relu_after_add: bool = True,
                 s2d: int = 1, block: str = "separable", mix: bool = True, pixel_skip: bool = False):
        super().__init__()
        self.s2d = int(s2d)
        k = self.s2d
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, k, stride=k, padding=k - 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        if block == "separable":
            blocks = [SeparableBlock(width, d, relu_after_add=relu_after_add) for d in dilations]
        else:
            blocks = [BLOCKS[block](width, d) for d in dilations]
        self.blocks = nn.Sequential(*blocks)
        self.mix = nn.Sequential(nn.Conv2d(width, width, 1), nn.ReLU()) if mix else nn.Identity()
        self.head = nn.Conv2d(width, 2, 1) if k == 1 else nn.ConvTranspose2d(width, 2, k, stride=k)
        # per-pixel linear path at full resolution (space-to-depth nets): each pixel's own mixing, which the
        # group's ``width`` channels would otherwise have to carry for all k*k pixels
        self.skip = nn.Conv2d(in_channels, 2, 1, bias=False) if pixel_skip and k > 1 else None
        self.dilations = tuple(dilations)

    def forward(self, x):
        if self.s2d == 1:
            out = self.head(self.mix(self.blocks(self.stem(x))))
            return out[:, 0], out[:, 1]
        h, w = x.shape[-2], x.shape[-1]
        # The stem's own zero padding (k - 1 on each side, inside the convolution: no copy of the input) puts the
        # groups at -(k-1)..0, 1..k, ...: ceil((h + 1) / k) of them cover every pixel for any h; the head gives
        # k outputs per group, the ones before pixel 0 and after pixel h - 1 are cut off.
        out = self.head(self.mix(self.blocks(self.stem(x))))[:, :, self.s2d - 1:h + self.s2d - 1,
                                                              self.s2d - 1:w + self.s2d - 1]
        if self.skip is not None:
            out = out + (self._skip_matmul(x) if torch.onnx.is_in_onnx_export() else self.skip(x))
        return out[:, 0], out[:, 1]

    def _skip_matmul(self, x):
        """The per-pixel path as one matrix product over the pixels, for the exported graph (issue 13).

        The same weights and maths as ``self.skip`` (a 1 x 1 convolution; outputs equal to ~1e-7). ORT
        runs that convolution on the 7-channel NCHW input through its NCHWc path, which took 0.6-0.7 ms of
        a 272 px tile against 0.12-0.16 ms for the MatMul (single-operator graphs, interleaved); the
        shipped multispectral5 teacher re-exported this way ran its tile 1.3-1.6x faster. Training keeps
        the convolution, so a rebuild trains exactly what it trained before.
        """
        n, c, h, w = x.shape
        return torch.matmul(self.skip.weight.reshape(self.skip.out_channels, c),
                            x.reshape(n, c, h * w)).reshape(n, self.skip.out_channels, h, w)


def receptive_radius(model: nn.Module) -> int:
    """How many pixels beyond a pixel can change its output.

    Full resolution: the sum of the 3x3 dilations. Space-to-depth by k: the blocks' reach in groups
    times k, plus k - 1 for the other pixels of the far group (a pixel's own group reaches k - 1
    beyond it).
    """
    k = int(getattr(model, "s2d", 1))
    reach = sum(int(m.dilation[0]) * (m.kernel_size[0] // 2) for m in model.modules()
                if isinstance(m, nn.Conv2d) and m.stride[0] == 1)
    return k * reach + k - 1


def build(*, in_channels: int, size: str, config: str) -> CoverNet:
    width, dilations, *options = ARCH[(size, config)]
    return CoverNet(in_channels, width=width, dilations=dilations, **(options[0] if options else {}))
