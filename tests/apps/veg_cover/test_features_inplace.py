"""The multispectral5 features written in place (issue 13, fifth round) are the bits of the copying formula."""

import numpy as np
import pytest

from edgeinv.apps.veg_cover import features as F
from edgeinv.common.errors import InvalidInputError


def _copying(bands, names):
    """The former code: select (a stacked float32 copy), clip (a copy), x 4, NDVI and NDRE."""
    x = np.clip(F.select_bands(bands, names, "multispectral5"), 0.0, 4.0)
    out = np.empty((7,) + x.shape[1:], np.float32)
    np.multiply(x, np.float32(4), out=out[:5])
    for k, (a, b) in ((5, (x[4], x[2])), (6, (x[4], x[3]))):
        s = a + b
        out[k] = 0.0
        np.divide(a - b, s, out=out[k], where=np.abs(s) > F.EPS)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multispectral5_in_place_equals_the_copying_formula(dtype):
    rng = np.random.default_rng(3)
    names = ("nir", "ignore_me", "red", "blue", "rededge", "green")  # file order, one extra band
    roles = tuple(n if n != "ignore_me" else "thermal" for n in names)
    bands = (rng.random((6, 40, 52)) * 1.2 - 0.1).astype(dtype)
    bands[0, :3, :3] = 0.0   # nir = red = 0: the ND is 0 there
    bands[2, :3, :3] = 0.0
    bands[4, 5, :] = 7.5     # beyond 4: clipped
    bands[0, 6, :] = -3.0    # negative: clipped to 0
    bands[2, 7, 0] = 1e-7    # |nir + red| below EPS
    bands[0, 7, 0] = 0.0
    got = F.channels(bands, roles, "multispectral5")
    assert got.dtype == np.float32 and got.shape == (7, 40, 52)
    np.testing.assert_array_equal(got, _copying(bands, roles))
    assert got[5, 0, 0] == 0.0 and got[5, 7, 0] == 0.0 and got[:5].max() <= 16.0 and got[:5].min() >= 0.0


def test_multispectral5_missing_band_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="needs band"):
        F.channels(np.zeros((4, 8, 8), np.float32), ("blue", "green", "red", "nir"), "multispectral5")
