"""The bearing-wear networks: a small 1-D CNN teacher and a smaller student (training side, imports torch).

Input: the ``(8, 512)`` array of :mod:`.features`. Channels 0–6 (two envelope spectra on the order
axis, the four defect-order combs, the cepstrum on the spall-length axis) go through strided 1-D
convolutions; the combs sit beside the spectra so the first layers can match lines to the right
fault whatever the bearing geometry. Global average and max pooling make the features independent
of where the lines are; the scalar indicators (first entries of channel 7) join through a small
MLP. Heads (training conventions of :mod:`edgeinv.common.train`): fault logits (5), defect size as
a z-score and its log-variance.
"""

from __future__ import annotations

import torch
from torch import nn

from .features import CHANNELS, SCALARS

N_SPECTRAL = len(CHANNELS) - 1
N_SCALARS = len(SCALARS)

SIZES = {
    "teacher": {"widths": (24, 32, 48, 64), "kernels": (7, 5, 5, 3), "hidden": 96, "scalar_hidden": 32},
    "student": {"widths": (12, 16, 24, 32), "kernels": (7, 5, 5, 3), "hidden": 48, "scalar_hidden": 16},
}


class BearingNet(nn.Module):
    """Strided 1-D CNN over the order-domain channels + MLP over the scalar indicators."""

    def __init__(self, *, widths=(24, 32, 48, 64), kernels=(7, 5, 5, 3), hidden: int = 96, scalar_hidden: int = 32,
                 n_classes: int = 5):
        super().__init__()
        layers = []
        cin = N_SPECTRAL
        for w, k in zip(widths, kernels):
            layers += [nn.Conv1d(cin, w, k, stride=2, padding=k // 2, bias=False), nn.BatchNorm1d(w), nn.ReLU()]
            cin = w
        self.features = nn.Sequential(*layers)
        self.scalars = nn.Sequential(nn.Linear(N_SCALARS, scalar_hidden), nn.ReLU())
        self.trunk = nn.Sequential(nn.Linear(2 * cin + scalar_hidden, hidden), nn.ReLU())
        self.fault = nn.Linear(hidden, n_classes)
        self.size = nn.Linear(hidden, 1)
        self.size_logvar = nn.Linear(hidden, 1)

    def forward(self, x):
        spec = x[:, :N_SPECTRAL, :]
        scal = x[:, N_SPECTRAL, :N_SCALARS]
        h = self.features(spec)
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        z = self.trunk(torch.cat([pooled, self.scalars(scal)], dim=1))
        return self.fault(z), self.size(z)[:, 0], self.size_logvar(z)[:, 0]


def build(size: str) -> BearingNet:
    """A fresh network of the named size (``"teacher"`` or ``"student"``)."""
    return BearingNet(**SIZES[size])
