"""Per-pixel model inputs: index values by hand, channel layout, no dependence on the neighbours."""

import numpy as np
import pytest

from edgeinv.apps.veg_cover import features
from edgeinv.common.errors import InvalidInputError


def test_ndvi_and_exg_by_hand():
    # NDVI = (0.5 - 0.1) / (0.5 + 0.1) = 0.6667; ExG on chromatic r,g,b = 0.2,0.5,0.3 -> 2*0.5-0.2-0.3 = 0.5
    assert features.ndvi(np.float32(0.1), np.float32(0.5)) == pytest.approx(2 / 3, rel=1e-6)
    assert features.excess_green(np.float32(0.2), np.float32(0.5), np.float32(0.3)) == pytest.approx(0.5, rel=1e-6)
    assert features.excess_red(np.float32(0.4), np.float32(0.4), np.float32(0.2)) == pytest.approx(1.4 * 0.4 - 0.4)
    assert features.ndvi(np.float32(0.0), np.float32(0.0)) == 0.0  # black pixel: no division by zero


@pytest.mark.parametrize("config,bands", [("multispectral5", ("blue", "green", "red", "rededge", "nir")),
                                          ("red_nir", ("red", "nir")), ("rgb", ("red", "green", "blue"))])
def test_channels_are_per_pixel(config, bands):
    rng = np.random.default_rng(0)
    img = rng.random((len(bands), 30, 40)).astype(np.float32) * 0.6
    x = features.channels(img, bands, config)
    assert x.shape == (features.n_channels(config), 30, 40) and x.dtype == np.float32
    crop = features.channels(img[:, 5:17, 9:31], bands, config)
    np.testing.assert_array_equal(crop, x[:, 5:17, 9:31])


def test_band_order_follows_roles():
    img = np.stack([np.full((2, 2), v, np.float32) for v in (0.4, 0.05)])  # nir first, then red
    x = features.channels(img, ("nir", "red"), "red_nir")
    assert x[0, 0, 0] == pytest.approx(4 * 0.05) and x[2, 0, 0] == pytest.approx((0.4 - 0.05) / 0.45)


def test_missing_band_is_a_clear_error():
    with pytest.raises(InvalidInputError, match="needs band"):
        features.channels(np.zeros((3, 2, 2), np.float32), ("red", "green", "blue"), "red_nir")


def test_select_bands_reads_a_run_in_order_as_a_read_only_view_and_copies_otherwise():
    rng = np.random.default_rng(1)
    img = rng.random((4, 6, 7)).astype(np.float32)
    names = ("nir", "red", "green", "blue")
    view = features.select_bands(img, names, "rgb")  # red, green, blue: bands 1..3 in order
    assert np.shares_memory(view, img) and not view.flags.writeable
    np.testing.assert_array_equal(view, img[1:4])
    with pytest.raises(ValueError, match="read-only"):
        view[0, 0, 0] = 1.0  # the image stays as read
    # out of order, or not float32: a float32 copy, as before
    swapped = features.select_bands(img, ("nir", "blue", "green", "red"), "rgb")
    assert not np.shares_memory(swapped, img) and swapped.flags.writeable
    np.testing.assert_array_equal(swapped, img[[3, 2, 1]])
    wide = features.select_bands(img.astype(np.float64), names, "red_nir")
    assert wide.dtype == np.float32 and not np.shares_memory(wide, img)
    np.testing.assert_array_equal(wide, img[[1, 0]])
