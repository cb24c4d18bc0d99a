"""Torch networks for leaf-trait inversion (training side only; imported lazily by build_model).

A multilayer perceptron on the preprocessed spectrum (pseudo-absorbance and its derivative on the
config grid, see :mod:`features`). One linear head emits every output of
``app.output_names()`` in order: per regression target its z-score and, for targets with
uncertainty, the log-variance of the z-score (the core's Gaussian NLL; exported as a standard
deviation). Spectra are short vectors (121-211 bands x 2) with broad, overlapping absorption
features, for which a dense network did as well as a 1-D CNN in our trials while being simpler to
prune and quantize.
"""

from __future__ import annotations

import torch
from torch import nn

TEACHER_WIDTHS = (256, 256, 128)
STUDENT_WIDTHS = (128, 96)


class SpectrumMLP(nn.Module):
    """``x (n, n_in)`` -> tuple of ``n_out`` tensors of shape ``(n,)``."""

    def __init__(self, n_in: int, n_out: int, widths=TEACHER_WIDTHS):
        super().__init__()
        layers: list[nn.Module] = []
        prev = n_in
        for w in widths:
            layers += [nn.Linear(prev, w), nn.GELU()]
            prev = w
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, n_out)
        self.n_out = n_out

    def forward(self, x):
        out = self.head(self.body(x))
        return tuple(out[:, i] for i in range(self.n_out))


def build(n_in: int, n_out: int, *, teacher: bool) -> SpectrumMLP:
    return SpectrumMLP(n_in, n_out, TEACHER_WIDTHS if teacher else STUDENT_WIDTHS)
