"""Unmixing path on camera counts: linear unmixing between the image's pure (interior) soil and vegetation levels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from edgeinv.apps.veg_cover.radiometry import NO_PURE_RATIO, PURE_FLAG_PX, pure_levels, unmix_counts
from edgeinv.apps.veg_cover.real_gsd import block_mean

SOIL, LEAF = np.array([0.30, 0.34]), np.array([0.12, 0.60])  # red, NIR (linear counts)


def _field(leaf: np.ndarray, rng, gain=(1.0, 1.0), offset=(0.0, 0.0)) -> np.ndarray:
    """(2, H, W) red + NIR counts of a leaf map (each leaf lit by its own angle), texture in both materials, one
    gain and offset per band."""
    x = np.where(leaf[None], LEAF[:, None, None] * np.moveaxis(_lit(leaf, rng), 2, 0), SOIL[:, None, None])
    x = x * (1 + 0.08 * rng.standard_normal(leaf.shape))[None]
    return (x * np.asarray(gain)[:, None, None] + np.asarray(offset)[:, None, None]).astype(np.float32)


def _lit(leaf: np.ndarray, rng, bands: int = 2) -> np.ndarray:
    """(H, W, bands): per connected leaf a brightness 0.2-1.8 (sunlit or shaded, its angle to the sun) and a colour
    of its own (chlorophyll, age): leaves vary, flat trays do not."""
    from scipy.ndimage import label

    from scipy.ndimage import gaussian_filter

    lab, n = label(leaf)
    f = rng.uniform(0.2, 1.8, (n + 1, 1)) * rng.uniform(0.5, 1.5, (n + 1, bands))
    # and shading across each leaf (curvature), smooth over ~10 px
    shade = 1 + 3.0 * gaussian_filter(rng.standard_normal(leaf.shape), 10)
    return f[lab] * np.clip(shade, 0.3, 1.7)[..., None]


def _blobs(rng, size=240, n=14, r=(10, 18)) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    leaf = np.zeros((size, size), bool)
    for _ in range(n):
        cy, cx, rad = rng.integers(0, size), rng.integers(0, size), rng.integers(*r)
        leaf |= (yy - cy) ** 2 + (xx - cx) ** 2 <= rad ** 2
    return leaf


@pytest.mark.parametrize("gain,offset", [((1.0, 1.0), (0.0, 0.0)), ((2.5, 0.6), (0.05, -0.02))])
def test_mixed_pixels_count_by_their_leaf_share_whatever_the_gain(gain, offset):
    """Area-averaged 4 x 4 (plant pixels mixed on the leaves' rims): the cover is the leaf share, for any per-band gain
    and offset, and closer to it than the share of pixels on the vegetation side (a segmentation of mixed pixels)."""
    rng = np.random.default_rng(0)
    leaf = _blobs(rng)
    coarse = block_mean(_field(leaf, rng, gain, offset), 4)
    pl = pure_levels(coarse, ("red", "nir"))
    assert pl is not None and pl.pure and pl.veg == pl.veg_observed
    cover = unmix_counts(coarse, ("red", "nir"), pl)
    assert cover.shape == coarse.shape[1:] and 0.0 <= cover.min() and cover.max() <= 1.0
    err = abs(float(cover.mean()) - leaf.mean())
    assert err <= 0.02 and err < abs(pl.levels.veg_share - leaf.mean())  # not what counting whole pixels gives


def test_plants_smaller_than_a_few_pixels_have_no_pure_level():
    rng = np.random.default_rng(1)
    leaf = _blobs(rng, n=60, r=(2, 4))
    coarse = block_mean(_field(leaf, rng), 8)
    pl = pure_levels(coarse, ("red", "nir"))
    assert pl is not None and not pl.pure and pl.n_pure_veg < PURE_FLAG_PX
    # the purest observed pixel is part soil: the vegetation level lies beyond it, and the cover is shrunk
    assert pl.veg - pl.soil == pytest.approx((pl.veg_observed - pl.soil) / NO_PURE_RATIO)
    x = float(unmix_counts(coarse, ("red", "nir"), pl).mean())
    assert abs(x - leaf.mean()) < abs(x / NO_PURE_RATIO - leaf.mean())  # closer than with the purest observed level


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _no_model(x):
    raise AssertionError("the net must not run on camera counts when the image has two clusters")


def test_app_unmixes_camera_counts_and_says_how(vc_app):
    """An RGB frame (sRGB counts) at 4 cm: the unmixing path runs the linear unmixing of the counts, not the net, and
    its result is within 0.02 of the leaf share, unflagged, with the truth in the interval."""
    rng = np.random.default_rng(2)
    leaf = _blobs(rng, size=512, n=300, r=(5, 9))
    lin = np.where(leaf[..., None], np.array([0.05, 0.20, 0.04]) * _lit(leaf, rng, 3), [0.22, 0.18, 0.14])
    lin = lin * (1 + 0.05 * rng.standard_normal(leaf.shape))[..., None]
    coarse = np.moveaxis(block_mean(np.moveaxis(lin, 2, 0), 4), 0, 2)  # averaged as light, then encoded
    coarse = np.where(coarse <= 0.0031308, 12.92 * coarse, 1.055 * coarse ** (1 / 2.4) - 0.055)
    s = vc_app.read(_png(coarse * 255), filename="f.png", gsd_cm=4.0)
    assert vc_app.config_for(s) == "rgb"
    res = vc_app.predict(s, _no_model)
    e = res.extra
    truth = leaf.mean()
    assert e["path"] == "unmix" and res.method == "linear_unmixing" and e["pure_levels"]["pure"]
    assert abs(res.fvc_mean - truth) <= 0.02 and not e["ood"], (res.fvc_mean, truth, e["ood_reasons"])
    assert e["fvc_interval"][0] <= truth <= e["fvc_interval"][1]


def test_a_flat_upper_cluster_is_flagged_down_to_zero(vc_app):
    """Soil and a uniform green plastic tray, no plant: the upper cluster is too uniform to be vegetation."""
    rng = np.random.default_rng(3)
    tray = np.zeros((96, 96), bool)
    tray[:, 60:] = True
    rgb = np.where(tray[..., None], [90, 150, 90], [120, 100, 80]) + rng.normal(0, 2, (96, 96, 3))
    res = vc_app.predict(vc_app.read(_png(rgb), filename="t.png", gsd_cm=4.0), _no_model)
    e = res.extra
    assert e["ood"] and any("unusually uniform" in r for r in e["ood_reasons"]), e["ood_reasons"]
    assert e["fvc_interval"][0] == 0.0


def test_small_plants_are_flagged_with_a_wide_interval(vc_app):
    rng = np.random.default_rng(4)
    leaf = _blobs(rng, size=256, n=200, r=(2, 4))
    lin = np.where(leaf[..., None], np.array([0.05, 0.20, 0.04]) * _lit(leaf, rng, 3), [0.22, 0.18, 0.14])
    lin = lin * (1 + 0.05 * rng.standard_normal(leaf.shape))[..., None]
    coarse = np.moveaxis(block_mean(np.moveaxis(lin, 2, 0), 8), 0, 2)
    coarse = np.where(coarse <= 0.0031308, 12.92 * coarse, 1.055 * coarse ** (1 / 2.4) - 0.055)
    res = vc_app.predict(vc_app.read(_png(coarse * 255), filename="s.png", gsd_cm=8.0), _no_model)
    e = res.extra
    assert e["ood"] and any("no pure vegetation" in r for r in e["ood_reasons"]), e["ood_reasons"]
    assert e["fvc_interval"][0] <= leaf.mean() <= e["fvc_interval"][1], (res.fvc_mean, leaf.mean(), e["fvc_interval"])


def test_a_streamed_raster_finds_its_pure_levels_at_its_own_resolution(tmp_path, write_tif):
    """A DN GeoTIFF larger than the level sample: read as full-resolution windows with invalid seams (a decimated
    view would be a coarser GSD, whose interiors are less pure); the levels match the whole image's."""
    from edgeinv.apps.veg_cover.io import read_image
    from edgeinv.apps.veg_cover.radiometry import native_windows

    rng = np.random.default_rng(5)
    leaf = _blobs(rng, size=240, n=40, r=(6, 12))
    counts = np.clip(_field(leaf, rng) * 255, 0, 255).astype(np.uint8)
    path = write_tif(tmp_path / "dn.tif", counts, descriptions=["red", "nir"])
    src = read_image(str(path), bands=None, filename="dn.tif")
    assert getattr(src, "bands", None) is None  # streamed
    bands, valid = native_windows(src, side=64, max_windows=4)
    assert bands.shape == (2, 2 * 65, 2 * 65) and not valid[64].any() and not valid[:, 64].any()
    assert np.allclose(bands[:, :64, :64], counts[:, :64, :64] / 255, atol=1e-6)
    assert np.allclose(bands[:, 65:129, 65:129], counts[:, -64:, -64:] / 255, atol=1e-6)
    whole = pure_levels(counts / np.float32(255), ("red", "nir"))
    part = pure_levels(bands, ("red", "nir"), valid)
    assert part.pure and abs(part.veg - whole.veg) < 0.1 and abs(part.soil - whole.soil) < 0.05


def test_with_the_gsd_unknown_the_image_chooses_the_path(vc_app):
    """A frame without map coordinates: segmentation when its plants are resolved (most vegetation pixels interior),
    unmixing when mixed pixels dominate (the same ground averaged 8 x 8)."""
    from edgeinv.apps.veg_cover.app import MIXED_MAX_INTERIOR, interior_share, path_for

    rng = np.random.default_rng(6)
    leaf = _blobs(rng, size=256, n=120, r=(4, 8))
    lin = np.where(leaf[..., None], np.array([0.05, 0.20, 0.04]) * _lit(leaf, rng, 3), [0.22, 0.18, 0.14])
    enc = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.clip(lin, 0, 1) ** (1 / 2.4) - 0.055)
    fine = vc_app.read(_png(enc * 255), filename="fine.png")
    assert interior_share(fine) > 0.5 and path_for(fine)[0] == "segment" and vc_app.config_for(fine) == "rgb_fine"
    c = np.moveaxis(block_mean(np.moveaxis(lin, 2, 0), 8), 0, 2)
    coarse = vc_app.read(_png(np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055) * 255),
                         filename="coarse.png")
    path, why = path_for(coarse)
    assert interior_share(coarse) < MIXED_MAX_INTERIOR and path == "unmix" and "mixed pixels dominate" in why
    assert vc_app.config_for(coarse) == "rgb"
    # a known GSD or --path still decides
    assert path_for(vc_app.read(_png(enc * 255), filename="f.png", gsd_cm=4.0))[0] == "unmix"
    assert path_for(vc_app.read(_png(enc * 255), filename="f.png", path="unmix"))[0] == "unmix"


def test_greenness_is_gain_invariant_and_tells_leaves_from_a_grey_surface():
    """Band-ratio contrast of the upper pixels over the lower ones: positive for leaves over soil whatever the per-band
    gain (white balance), near zero or below for a grey surface or a second soil over soil."""
    from edgeinv.apps.veg_cover.radiometry import MIN_GREENNESS, greenness

    up = np.zeros((8, 8), bool)
    up[:, :3] = True
    for names, soil, leaf, grey in ((("red", "green", "blue"), [0.22, 0.18, 0.14], [0.05, 0.20, 0.04], [0.5] * 3),
                                    (("red", "nir"), [0.30, 0.34], [0.12, 0.60], [0.5, 0.5])):
        for gain in (np.ones(len(names)), np.array([2.0, 0.7, 1.3][:len(names)])):
            def frame(top):
                return np.where(up[None], np.asarray(top)[:, None, None], np.asarray(soil)[:, None, None]) \
                    * gain[:, None, None]
            g_leaf = greenness(frame(leaf), names, up, ~up)
            assert g_leaf > 3 * MIN_GREENNESS
            assert greenness(frame(grey), names, up, ~up) < MIN_GREENNESS
            assert abs(greenness(frame(1.8 * np.asarray(soil)), names, up, ~up)) < 0.05  # a brighter second soil
            # half leaf, half soil in every upper pixel: pulled towards 0, still clearly positive
            assert MIN_GREENNESS < greenness(frame(0.5 * (np.asarray(leaf) + soil)), names, up, ~up) < g_leaf


def test_pale_stones_without_plants_are_flagged_not_green(vc_app):
    """Soil with pale grey stones of varying brightness and no plant: the stones form the upper cluster (not uniform,
    so the flat-cluster flag does not fire); they are not greener than the soil, so the result is flagged down to 0."""
    rng = np.random.default_rng(7)
    stones = _blobs(rng, size=192, n=40, r=(3, 7))
    from scipy.ndimage import label

    lab, n = label(stones)
    bright = rng.uniform(0.6, 1.4, n + 1)[lab]
    lin = np.where(stones[..., None], np.array([0.55, 0.57, 0.50]) * bright[..., None], [0.22, 0.18, 0.14])
    lin = lin * (1 + 0.05 * rng.standard_normal(stones.shape))[..., None]
    c = np.moveaxis(block_mean(np.moveaxis(lin, 2, 0), 2), 0, 2)
    enc = np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.clip(c, 0, 1) ** (1 / 2.4) - 0.055)
    res = vc_app.predict(vc_app.read(_png(enc * 255), filename="st.png", gsd_cm=4.0), _no_model)
    e = res.extra
    assert e["pure_levels"]["not_green"] and not e["pure_levels"]["flat"], e["pure_levels"]
    assert e["ood"] and any("not greener" in r for r in e["ood_reasons"]), e["ood_reasons"]
    assert e["fvc_interval"][0] == 0.0


def test_cover_mostly_from_background_pixels_is_flagged(vc_app):
    """A soil patchily tinted part of the way towards the leaves' colour (algae, moss, a second background) and a few
    small plants: the unmixing reads the tinted soil as part vegetation, a cover far above the image's own share of
    vegetation pixels; flagged, with the interval reaching down to that share."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(41)
    leaf = _blobs(rng, size=192, n=8, r=(3, 5))
    u = np.clip(gaussian_filter(rng.standard_normal(leaf.shape), 6) * 8 + 0.5, 0, 1)
    soil = np.array([0.22, 0.18, 0.14]) + 0.35 * u[..., None] * (np.array([0.05, 0.20, 0.04]) - [0.22, 0.18, 0.14])
    lin = np.where(leaf[..., None], np.array([0.05, 0.20, 0.04]) * _lit(leaf, rng, 3) ** 0.3, soil)
    lin = lin * (1 + 0.03 * rng.standard_normal(leaf.shape))[..., None]
    enc = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.clip(lin, 0, 1) ** (1 / 2.4) - 0.055)
    res = vc_app.predict(vc_app.read(_png(enc * 255), filename="m.png", gsd_cm=4.0), _no_model)
    e = res.extra
    assert res.fvc_mean > leaf.mean() + 0.03  # the failure the check is for
    assert e["ood"] and any("share of pixels on the vegetation side" in r for r in e["ood_reasons"]), e["ood_reasons"]
    assert e["fvc_interval"][0] <= leaf.mean() <= e["fvc_interval"][1]


def _resolved_plants_frame():
    """A red+NIR frame of 20 resolved leaf blobs (a sample-like object) and its pure levels."""

    class _Sample:
        band_names = ("red", "nir")

    rng = np.random.default_rng(8)
    leaf = _blobs(rng, size=160, n=20, r=(8, 14))
    s = _Sample()
    s.bands, s.valid = _field(leaf, rng), None
    return s, pure_levels(s.bands, s.band_names)


def test_resolved_plants_unmixed_well_below_their_split_are_flagged():
    """Most vegetation pixels interior (plants resolved) but the unmixed cover far below the share of vegetation
    pixels: flagged, interval up to that share; the same cover near the share is not."""
    import dataclasses

    from edgeinv.apps.veg_cover.confidence import _assess_counts
    from edgeinv.apps.veg_cover.radiometry import UNDER_SPLIT_GAP, UNDER_SPLIT_INTERIOR

    s, pl = _resolved_plants_frame()
    assert pl.n_pure_veg >= UNDER_SPLIT_INTERIOR * pl.n_veg
    split = pl.levels.veg_share
    lo, hi, more = _assess_counts(split - UNDER_SPLIT_GAP - 0.03, s, pl)
    assert any("plants resolved" in r for r in more["reasons"]) and hi >= split
    _, _, more = _assess_counts(split - 0.01, s, pl)
    assert not any("plants resolved" in r for r in more["reasons"])
    # mixed pixels dominate: the split is no guide
    few = dataclasses.replace(pl, n_pure_veg=int(0.5 * UNDER_SPLIT_INTERIOR * pl.n_veg))
    _, _, more = _assess_counts(split - UNDER_SPLIT_GAP - 0.03, s, few)
    assert not any("plants resolved" in r for r in more["reasons"])


def test_clipping_a_textured_background_adds_to_a_low_cover():
    """The map clips each pixel's fraction to 0..1: on a background whose texture spreads it around its level, the
    clipped noise adds to the cover; unclipped it averages out (what :data:`CLIP_BIAS_MAX` compares)."""
    from edgeinv.apps.veg_cover.radiometry import _cover_checks, _nominal

    rng = np.random.default_rng(9)
    t = np.where(rng.random((100, 100)) < 0.05, 1.0, rng.normal(0.0, 0.3, (100, 100)))
    ok = np.ones(t.shape, bool)
    c = _cover_checks(np.zeros((2, 100, 100)), _nominal(("red", "nir"), found=False), t, ok, 0.0, 0.0, 1.0)
    assert c["cover"] > 0.1 and abs(c["cover_unclipped"] - 0.05) < 0.02 and c["chroma_split"] is None
    smooth = np.where(t >= 1.0, 1.0, 0.0)  # a flat background: nothing to clip
    c = _cover_checks(np.zeros((2, 100, 100)), _nominal(("red", "nir"), found=False), smooth, ok, 0.0, 0.0, 1.0)
    assert c["cover"] == pytest.approx(c["cover_unclipped"])


def test_clip_dependent_and_shade_hidden_covers_are_flagged():
    """A cover that moves by more than CLIP_BIAS_MAX when pixels beyond the levels are not clipped is flagged with the
    interval spanning both; a chromatic split (shade-invariant) above MAX_CHROMA_EXCESS x the cover is flagged with the
    interval up to it (a clean frame is flagged by neither: test_app_unmixes_camera_counts_and_says_how)."""
    import dataclasses

    from edgeinv.apps.veg_cover.confidence import _assess_counts
    from edgeinv.apps.veg_cover.radiometry import CLIP_BIAS_MAX, MAX_CHROMA_EXCESS

    s, pl = _resolved_plants_frame()
    fvc = float(unmix_counts(s.bands, s.band_names, pl).mean())
    pl = dataclasses.replace(pl, cover_unclipped=pl.cover, chroma_split=fvc)
    _, _, more = _assess_counts(fvc, s, pl)
    assert not any("pixels beyond" in r or "shade does not change" in r for r in more["reasons"]), more["reasons"]
    clipped = dataclasses.replace(pl, cover_unclipped=pl.cover - 2 * CLIP_BIAS_MAX)
    lo, hi, more = _assess_counts(fvc, s, clipped)
    assert any("pixels beyond the pure levels" in r for r in more["reasons"]) and lo <= fvc - 2 * CLIP_BIAS_MAX
    shaded = dataclasses.replace(pl, chroma_split=min(1.0, 2 * MAX_CHROMA_EXCESS * fvc))
    lo, hi, more = _assess_counts(fvc, s, shaded)
    assert any("shade does not change" in r for r in more["reasons"]) and hi >= shaded.chroma_split


def test_8bit_counts_are_decoded_by_the_table_to_the_same_bits_and_others_per_pixel():
    """linear_counts decodes an 8-bit RGB frame's values by a 256-entry table of srgb_to_linear (issue 13, stop 31):
    the same bits as the per-pixel power for every code, in a tile view of a larger frame too; values that are not
    codes / 255 (a 16-bit PNG) take the per-pixel path."""
    from edgeinv.apps.veg_cover.radiometry import linear_counts, srgb_to_linear

    rng = np.random.default_rng(3)
    codes = rng.permutation(np.resize(np.arange(256, dtype=np.uint8), 3 * 40 * 50)).reshape(3, 40, 50)
    frame = np.zeros((3, 90, 120), np.float32)
    frame[:, 7:47, 11:61] = codes.astype(np.float32) / np.float32(255)
    tile = frame[:, 7:47, 11:61]  # a window of the frame, as the tiles pass it
    per_pixel = srgb_to_linear(np.clip(tile, 0.0, 1.0), np.float32)
    got, enc = linear_counts(tile, ("red", "green", "blue"))
    assert enc == "srgb" and got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), per_pixel.view(np.uint32))
    wide = rng.integers(0, 65536, (3, 20, 30)).astype(np.float32) / np.float32(65535)
    np.testing.assert_array_equal(linear_counts(wide, ("red", "green", "blue"))[0],
                                  srgb_to_linear(np.clip(wide, 0.0, 1.0), np.float32))
    # an out-of-range value is clipped first, as before
    odd = tile.copy()
    odd[0, 0, 0] = 1.5
    np.testing.assert_array_equal(linear_counts(odd, ("red", "green", "blue"))[0],
                                  srgb_to_linear(np.clip(odd, 0.0, 1.0), np.float32))
