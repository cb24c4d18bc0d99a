"""Per-image levels from clusters: right on synthetic two-material images, invariant to per-band gain and offset."""

import numpy as np
import pytest

from edgeinv.apps.veg_cover.radiometry import discriminant, image_levels, min_error_threshold, normalise


def _scene(rng, cover=0.2, shape=(120, 160)):
    """Red + NIR counts: soil (0.30, 0.30), leaves (0.17, 0.56) with NIR leaking into red, plus noise."""
    mask = rng.random(shape) < cover
    red = np.where(mask, 0.17, 0.30) + rng.normal(0, 0.02, shape)
    nir = np.where(mask, 0.56, 0.30) + rng.normal(0, 0.02, shape)
    return np.stack([red, nir]).astype(np.float32), mask


@pytest.mark.parametrize("cover", [0.02, 0.2, 0.6])
def test_levels_find_both_clusters_at_any_cover(cover):
    rng = np.random.default_rng(1)
    bands, mask = _scene(rng, cover)
    lv = image_levels(bands, ("red", "nir"))
    assert lv.found and lv.separation > 3
    assert np.allclose(lv.soil, (0.30, 0.30), atol=0.02) and np.allclose(lv.veg, (0.17, 0.56), atol=0.02)
    t = discriminant(bands, lv)
    assert abs(float(np.mean(t > 0.5)) - mask.mean()) < 0.01


def test_normalised_input_is_invariant_to_gain_and_offset():
    rng = np.random.default_rng(2)
    bands, _ = _scene(rng, 0.15)
    gain = np.array([0.6, 1.7], np.float32)[:, None, None]
    offset = np.array([0.05, -0.02], np.float32)[:, None, None]
    other = bands * gain + offset
    a = normalise(bands, image_levels(bands, ("red", "nir")))
    b = normalise(other, image_levels(other, ("red", "nir")))
    assert np.allclose(a, b, atol=0.05)
    ta = discriminant(bands, image_levels(bands, ("red", "nir")))
    tb = discriminant(other, image_levels(other, ("red", "nir")))
    assert np.mean(np.abs(ta - tb)) < 0.02


def test_uniform_image_has_no_vegetation_cluster():
    bands = np.full((3, 40, 40), 0.3, np.float32) + np.random.default_rng(0).normal(0, 0.001, (3, 40, 40)).astype(
        np.float32)
    lv = image_levels(bands, ("red", "green", "blue"))
    assert not lv.found or lv.separation < 2


def test_min_error_threshold_handles_small_classes():
    rng = np.random.default_rng(3)
    v = np.concatenate([rng.normal(0.05, 0.03, 9800), rng.normal(0.5, 0.05, 200)])
    t, share = min_error_threshold(v)
    assert 0.15 < t < 0.4 and abs(share - 0.02) < 0.005


def _shaded_rgb(rng, shape=(120, 160)):
    """RGB counts: soil, sunlit leaves and leaves in shade (0.35 x the light, a little bluer)."""
    mask = rng.random(shape) < 0.3
    shade = mask & (rng.random(shape) < 0.3)
    soil, leaf = np.array([0.30, 0.25, 0.20]), np.array([0.20, 0.45, 0.15])
    light = np.where(shade[..., None], 0.35 * np.array([0.95, 1.0, 1.1]), 1.0)
    img = np.where(mask[..., None], leaf, soil) * light + rng.normal(0, 0.005, (*shape, 3))
    return np.moveaxis(img, 2, 0).astype(np.float32), mask, shade


def test_chroma_keeps_shaded_leaves_at_the_vegetation_level():
    """Shaded leaves keep the vegetation's chromatic coordinate (log-ratios do not change with the light)."""
    from edgeinv.apps.veg_cover.radiometry import chroma

    bands, mask, shade = _shaded_rgb(np.random.default_rng(4))
    lv = image_levels(bands, ("red", "green", "blue"))
    c = chroma(bands, lv)
    assert np.median(c[shade]) > 0.7 and np.median(c[mask & ~shade]) > 0.85
    assert np.median(np.abs(c[~mask])) < 0.1
    assert abs(float(np.mean(c > 0.5)) - mask.mean()) < 0.01


def test_chroma_is_invariant_to_per_band_gain():
    """Under another white balance the split of the bands loses the shaded leaves (green gain 1.3 lifts the
    soil's excess green); the chromatic re-split finds them again."""
    from edgeinv.apps.veg_cover.radiometry import chroma

    bands, mask, shade = _shaded_rgb(np.random.default_rng(5))
    for gain in ((1.0, 1.0, 1.0), (0.7, 1.3, 0.9), (1.4, 0.8, 1.2)):
        other = bands * np.array(gain, np.float32)[:, None, None]
        c = chroma(other, image_levels(other, ("red", "green", "blue")))
        assert abs(float(np.mean(c > 0.5)) - mask.mean()) < 0.02, gain
        assert abs(float(np.median(c[mask & ~shade])) - 1.0) < 0.05 and abs(float(np.median(c[~mask]))) < 0.05


def test_interior_equals_scipy_binary_erosion():
    """radiometry._interior (numpy, kept out of scipy for the serving memory) is scipy's 3x3 erosion with the border
    counted as inside, on random masks of several densities and shapes (incl. one-pixel-wide)."""
    from scipy.ndimage import binary_erosion

    from edgeinv.apps.veg_cover.radiometry import _interior

    rng = np.random.default_rng(4)
    for shape in ((1, 7), (5, 1), (3, 3), (37, 53), (120, 90)):
        for p in (0.2, 0.7, 0.95, 1.0):
            m = rng.random(shape) < p
            want = binary_erosion(m, np.ones((3, 3), bool), border_value=1) & m
            assert np.array_equal(_interior(m), want), (shape, p)


def test_log_ratios_of_8bit_values_come_from_a_table_with_the_same_bits():
    """_log_ratios reads an 8-bit frame's logarithms from a 256-entry table (issue 13, stop 31): the same bits as
    the per-pixel logarithm, for a tile view of a frame (float32) and a float64 subsample; reflectance and values
    out of 0..1 are computed per pixel."""
    from edgeinv.apps.veg_cover.radiometry import _codes_of, _log_ratios

    def per_pixel(x, eps):
        lx = np.log(np.maximum(np.asarray(x, np.float64), 0.0) + eps)
        return lx[:-1] - lx[-1:]

    rng = np.random.default_rng(5)
    frame = rng.integers(0, 256, (3, 60, 80)).astype(np.float32) / np.float32(255)
    for x in (frame[:, 5:45, 7:71], frame[:, ::3, ::3].reshape(3, -1).astype(np.float64)):
        assert _codes_of(x) is not None
        np.testing.assert_array_equal(_log_ratios(x, 0.0123).view(np.uint64), per_pixel(x, 0.0123).view(np.uint64))
    for x in (rng.random((3, 9, 11)).astype(np.float32), frame * np.float32(1.2), frame - np.float32(0.5)):
        assert _codes_of(x) is None
        np.testing.assert_array_equal(_log_ratios(x, 0.01), per_pixel(x, 0.01))
