"""The cover network (training side, torch): a small fully-convolutional net of depthwise-separable blocks.

Input: the per-pixel channels of :mod:`.features` (any H, W). Output, per pixel: the cover fraction
(z-scored during training) and the log-variance of its Gaussian predictive distribution, as
:mod:`edgeinv.common.train` expects for a target with ``uncertainty=True``. Blocks follow
MobileNet's depthwise-separable convolution (Howard et al. 2017, arXiv:1704.04861): a 3 x 3
depthwise convolution for spatial context (mixed pixels, shadows next to plants), a 1 x 1 pointwise
convolution for the spectral mixing, batch norm, ReLU, residual. The receptive-field radius is the
sum of the dilations (``receptive_radius``); the tiler's margin must be at least that.
"""

from __future__ import annotations

from torch import nn

ARCH = {  # (size, config) -> (width, dilations of the blocks); RGB, without NIR, needs the wider teacher
    ("teacher", "multispectral5"): (16, (1, 2, 1)),
    ("teacher", "red_nir"): (16, (1, 2, 1)),
    ("teacher", "rgb"): (32, (1, 2, 1)),
    ("student", "multispectral5"): (8, (1, 1)),
    ("student", "red_nir"): (8, (1, 1)),
    ("student", "rgb"): (12, (1, 1)),
    # segmentation path: normalised inputs, a per-pixel decision with a little context (edges, JPEG blocks)
    ("teacher", "red_nir_fine"): (16, (1, 2, 1)),
    ("teacher", "rgb_fine"): (16, (1, 2, 1)),
    ("student", "red_nir_fine"): (8, (1, 1)),
    ("student", "rgb_fine"): (8, (1, 1)),
}


class SeparableBlock(nn.Module):
    """Depthwise 3x3 (dilated) -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU, plus the input."""

    def __init__(self, channels: int, dilation: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation,
                                   groups=channels, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.pointwise = nn.Conv2d(channels, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        return x + self.act(self.bn2(self.pointwise(self.act(self.bn1(self.depthwise(x))))))


class CoverNet(nn.Module):
    """Per-pixel cover (z-score) and its log-variance from ``in_channels`` feature maps."""

    def __init__(self, in_channels: int, width: int = 32, dilations=(1, 2, 1)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(*[SeparableBlock(width, d) for d in dilations])
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
