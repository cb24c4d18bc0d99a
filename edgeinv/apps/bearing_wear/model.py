"""The bearing-wear networks: a small 1-D CNN teacher and a smaller student (training side, imports torch).

Input: the ``(18, 256)`` array of :mod:`.features`: four fault *views* (the envelope spectra on the
axis ``u = order / impact order`` of outer race, inner race, ball and cage; two spectra, the
shaft-harmonic marks and the fault-harmonic marks each), the
squared-envelope autocorrelation on the spall-length axis, and a row of scalar indicators.

* One 1-D CNN with **shared weights** reads each fault view (a fault's harmonics sit at
  ``u = 1, 2, 3`` in its own view whatever the bearing and speed, so the same filters serve all
  four hypotheses) and gives a feature vector and a score per hypothesis.
* A second small CNN reads the autocorrelation (the entry/exit spacing of a spall, for its size);
  its output keeps the lag position (pooled by 4 and flattened), because the spall length *is* a
  position on that axis.
* A trunk joins the mean and maximum of the four view features (pooled over the views, so the
  trunk does not depend on their order and structured pruning can follow the channels), the four
  view scores, the autocorrelation features and the scalar indicators.
* Heads (training conventions of :mod:`edgeinv.common.train`): fault logits = trunk logits + the
  per-view scores (healthy gets none); defect size as a z-score and its log-variance.
"""

from __future__ import annotations

import torch
from torch import nn

from .features import HYPOTHESES, N_BINS, SCALARS, VIEW_CHANNELS

N_VIEWS = len(HYPOTHESES)
N_VC = len(VIEW_CHANNELS)
N_SCALARS = len(SCALARS)
ACF_POSITIONS = N_BINS // 16  # two stride-2 convolutions, then average pooling by 4

SIZES = {
    "teacher": {"widths": (16, 24, 32), "acf_widths": (8, 16), "feat": 32, "hidden": 64, "scalar_hidden": 32},
    "student": {"widths": (8, 12, 16), "acf_widths": (4, 8), "feat": 16, "hidden": 32, "scalar_hidden": 16},
}


def _cnn(cin: int, widths, kernels) -> nn.Sequential:
    layers = []
    for w, k in zip(widths, kernels):
        layers += [nn.Conv1d(cin, w, k, stride=2, padding=k // 2, bias=False), nn.BatchNorm1d(w), nn.ReLU()]
        cin = w
    return nn.Sequential(*layers)


class BearingNet(nn.Module):
    """Shared-weight CNN over the four fault views + CNN over the autocorrelation + scalar MLP."""

    def __init__(self, *, widths=(16, 24, 32), acf_widths=(8, 16), feat: int = 32, hidden: int = 64,
                 scalar_hidden: int = 32, dropout: float = 0.2, n_classes: int = 5):
        super().__init__()
        self.views = _cnn(N_VC, widths, (7, 5, 5)[: len(widths)])
        self.view_feat = nn.Sequential(nn.Linear(2 * widths[-1], feat), nn.ReLU())
        self.view_score = nn.Linear(feat, 1)
        self.acf = _cnn(1, acf_widths, (7, 5)[: len(acf_widths)])
        # the spall length is the *position* of the entry/exit bump: keep it (pool by 4, flatten)
        self.acf_pool = nn.AvgPool1d(4)
        self.acf_feat = nn.Sequential(nn.Flatten(), nn.Linear(acf_widths[-1] * ACF_POSITIONS, 2 * acf_widths[-1]), nn.ReLU())
        self.scalars = nn.Sequential(nn.Linear(N_SCALARS, scalar_hidden), nn.ReLU())
        self.trunk = nn.Sequential(nn.Linear(2 * feat + N_VIEWS + 2 * acf_widths[-1] + scalar_hidden, hidden), nn.ReLU(),
                                   nn.Dropout(dropout))
        self.fault = nn.Linear(hidden, n_classes)
        self.size = nn.Linear(hidden, 1)
        self.size_logvar = nn.Linear(hidden, 1)

    def forward(self, x):
        n_bins = x.shape[2]
        v = x[:, : N_VC * N_VIEWS, :].reshape(-1, N_VC, n_bins)  # (batch * views, channels, bins)
        hv = self.views(v)
        fv = self.view_feat(torch.cat([hv.mean(dim=2), hv.amax(dim=2)], dim=1))  # (batch * views, feat)
        scores = self.view_score(fv).reshape(-1, N_VIEWS)
        per_view = fv.reshape(-1, N_VIEWS, fv.shape[1])
        pooled = torch.cat([per_view.mean(dim=1), per_view.amax(dim=1)], dim=1)
        ha = self.acf(x[:, N_VC * N_VIEWS: N_VC * N_VIEWS + 1, :])
        fa = self.acf_feat(self.acf_pool(ha))
        fs = self.scalars(x[:, N_VC * N_VIEWS + 1, :N_SCALARS])
        z = self.trunk(torch.cat([pooled, scores, fa, fs], dim=1))
        logits = self.fault(z) + torch.cat([torch.zeros_like(scores[:, :1]), scores], dim=1)
        return logits, self.size(z)[:, 0], self.size_logvar(z)[:, 0]


def build(size: str) -> BearingNet:
    """A fresh network of the named size (``"teacher"`` or ``"student"``)."""
    return BearingNet(**SIZES[size])
