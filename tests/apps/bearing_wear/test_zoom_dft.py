"""orders.zoom_dft (the 1x speed check's few spectrum bins) equals the zero-padded FFT's bins."""

import numpy as np
import pytest
import scipy.fft as sfft

from edgeinv.apps.bearing_wear import orders as O


@pytest.mark.parametrize("n", [37, 500, 12821, 153600])
def test_zoom_dft_equals_the_padded_fft(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n) + 3.0 * np.sin(0.013 * np.arange(n))
    nfft = sfft.next_fast_len(4 * n, real=True)
    full = sfft.rfft(a, n=nfft)
    scale = np.abs(full).max()
    for k0, m in ((2, 5), (nfft // 400, 27), (nfft // 2 - 30, 30)):  # contiguous bins: the block-moment path
        got = O.zoom_dft(a, np.arange(k0, k0 + m), nfft)
        assert np.max(np.abs(got - full[k0:k0 + m])) <= 1e-12 * scale
    bins = np.array([3, 17, nfft // 7, nfft // 2])  # scattered bins: the plain exponentials
    assert np.max(np.abs(O.zoom_dft(a, bins, nfft) - full[bins])) <= 1e-12 * scale
