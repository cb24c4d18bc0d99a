"""Close-range simulator of the segmentation path: physically shaded light, Bayer colour noise, training frames
whose two clusters are vegetation and background."""

import numpy as np

from edgeinv.apps.veg_cover.radiometry import image_levels
from edgeinv.apps.veg_cover.sim import physics
from edgeinv.apps.veg_cover.sim.fine_scene import _bayer
from edgeinv.apps.veg_cover.sim.simulate import _clusters_are_vegetation


def test_shade_removes_more_of_the_red_than_of_the_blue():
    """Shade keeps only skylight, which is bluer: the direct share of the irradiance is larger in red than blue."""
    from edgeinv.apps.veg_cover.cameras import get_camera

    cam = get_camera("rgb_fine")
    srf = cam.srf(physics.WAVELENGTH_NM, shift_nm=np.zeros(3), fwhm_scale=np.ones(3))
    for tts in (15.0, 60.0):
        direct = physics.direct_fraction(physics.band_weights(srf, tts_deg=tts), tts_deg=tts)
        red, blue = direct[cam.bands.index("red")], direct[cam.bands.index("blue")]
        assert 0.3 < blue < red < 1.0


def test_bayer_demosaicing_keeps_flat_colour_and_spreads_noise_into_blotches():
    rng = np.random.default_rng(0)
    flat = np.stack([np.full((32, 32), v, np.float32) for v in (0.2, 0.5, 0.8)])
    assert np.allclose(_bayer(flat)[:, 4:-4, 4:-4], flat[:, 4:-4, 4:-4], atol=1e-3)
    noisy = np.clip(0.2 + 0.02 * rng.standard_normal((3, 64, 64)), 0, 1).astype(np.float32)
    g_r = _bayer(noisy)
    chroma = g_r[1] - g_r[0]
    # independent noise has no neighbour correlation; interpolated photosites share theirs
    corr = np.corrcoef(chroma[:, :-1].ravel(), chroma[:, 1:].ravel())[0, 1]
    assert corr > 0.3


def test_frames_whose_upper_cluster_is_not_vegetation_are_rejected():
    """A white crate over half the frame and a few leaves: the split separates crate from soil, so the frame
    would teach the net that the vegetation level means nothing."""
    rng = np.random.default_rng(1)
    h, w = 96, 96
    truth = np.zeros((h, w), np.float32)
    truth[40:46, 10:16] = 1.0
    crate = np.zeros((h, w), bool)
    crate[:, 50:] = True
    soil, leaf, white = np.array([0.30, 0.25, 0.20]), np.array([0.20, 0.45, 0.15]), np.array([0.85, 0.95, 0.80])
    img = np.where(crate[..., None], white, np.where(truth[..., None] > 0, leaf, soil))
    img = np.moveaxis(img + rng.normal(0, 0.01, img.shape), 2, 0).astype(np.float32)
    lv = image_levels(img, ("red", "green", "blue"))
    assert not _clusters_are_vegetation(img, truth, lv)
    plain = np.moveaxis(np.where(truth[..., None] > 0, leaf, soil) + rng.normal(0, 0.01, (h, w, 3)), 2, 0)
    plain = plain.astype(np.float32)
    assert _clusters_are_vegetation(plain, truth, image_levels(plain, ("red", "green", "blue")))
