"""The cover network (training side, torch): a small fully-convolutional net of depthwise-separable blocks.

Input: the per-pixel channels of :mod:`.features` (any H, W). Output, per pixel: the cover fraction
(z-scored during training) and the log-variance of its Gaussian predictive distribution, as
:mod:`edgeinv.common.train` expects for a target with ``uncertainty=True``. Blocks follow
MobileNet's depthwise-separable convolution (Howard et al. 2017, arXiv:1704.04861): a 3 x 3
depthwise convolution for spatial context (mixed pixels, shadows next to plants), a 1 x 1 pointwise
convolution for the spectral mixing, batch norm, residual, then ReLU. The receptive-field radius is
the sum of the dilations (``receptive_radius``); the tiler's margin must be at least that.

Shape for the edge runtime (issue 13, measured with ONNX Runtime on one thread, 288 x 288 tiles;
thread CPU time, so other processes on the machine do not enter): the net is memory-bound -- every
operator streams a 288 x 288 x width activation -- so time follows the number of operators, not the
multiply-adds: width 8 ran slower than width 16 (12.5 vs 7.6 ms FP32; 16 is ORT's NCHWc block on
AVX-512), two blocks instead of three ran 1.06x (FP32) and 1.33x (INT8) faster. The ReLU comes
*after* the residual add (the order fused conv + add + activation kernels take; by itself no
measurable change). Students are therefore width 16 with two blocks (fewer operators), not
narrower. Figures: ``python -m edgeinv.apps.veg_cover.shape_bench`` and docs/apps/veg_cover.md.
"""

from __future__ import annotations

from torch import nn

ARCH = {  # (size, config) -> (width, dilations of the blocks); RGB, without NIR, needs the wider teacher
    ("teacher", "multispectral5"): (16, (1, 2, 1)),
    ("teacher", "red_nir"): (16, (1, 2, 1)),
    ("teacher", "rgb"): (32, (1, 2, 1)),
    ("student", "multispectral5"): (16, (1, 2)),
    ("student", "red_nir"): (16, (1, 2)),
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


class CoverNet(nn.Module):
    """Per-pixel cover (z-score) and its log-variance from ``in_channels`` feature maps."""

    def __init__(self, in_channels: int, width: int = 32, dilations=(1, 2, 1), *, relu_after_add: bool = True):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[SeparableBlock(width, d, relu_after_add=relu_after_add) for d in dilations])
        self.mix = nn.Sequential(nn.Conv2d(width, width, 1), nn.ReLU())
        self.head = nn.Conv2d(width, 2, 1)
        self.dilations = tuple(dilations)

    def forward(self, x):
        out = self.head(self.mix(self.blocks(self.stem(x))))
        return out[:, 0], out[:, 1]


def receptive_radius(model: nn.Module) -> int:
    """How many pixels beyond a pixel can change its output (sum of the 3x3 dilations)."""
    return sum(int(m.dilation[0]) * (m.kernel_size[0] // 2) for m in model.modules() if isinstance(m, nn.Conv2d))


def build(*, in_channels: int, size: str, config: str) -> CoverNet:
    width, dilations = ARCH[(size, config)]
    return CoverNet(in_channels, width=width, dilations=dilations)
