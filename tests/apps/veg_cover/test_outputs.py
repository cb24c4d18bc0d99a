"""Overlay PNG and its helpers (outputs.py): area down-sampling, the zone outlines and numbers, PNG bytes."""

import io

import numpy as np
import pytest
from PIL import Image

from edgeinv.apps.veg_cover.outputs import ZONE_RGBA, area_resize, encode_png, overlay_png


def _decode(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGBA"))


def test_area_resize_is_the_block_mean_for_whole_factors_and_only_shrinks():
    a = np.arange(48, dtype=np.float32).reshape(6, 8)
    out = area_resize(a, (3, 2))
    want = a.reshape(3, 2, 2, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(out, want, atol=1e-5)
    assert area_resize(a, (6, 8)) is not None and area_resize(a, (6, 8)).shape == (6, 8)
    with pytest.raises(ValueError):
        area_resize(a, (12, 8))


def test_area_resize_keeps_the_mean_for_uneven_factors():
    a = np.random.default_rng(1).random((150, 97)).astype(np.float32)
    out = area_resize(a, (64, 41))
    assert out.shape == (64, 41)
    assert abs(float(out.mean()) - float(a.mean())) < 0.01
    assert out.min() >= a.min() - 1e-6 and out.max() <= a.max() + 1e-6


@pytest.mark.parametrize("channels", [3, 4])
def test_encode_png_round_trips_exactly(channels):
    img = np.random.default_rng(2).integers(0, 256, (37, 53, channels), dtype=np.uint8)
    back = _decode(encode_png(img))
    np.testing.assert_array_equal(back[..., :channels], img)


def test_encode_png_refuses_other_shapes():
    with pytest.raises(ValueError):
        encode_png(np.zeros((4, 4), np.uint8))


def test_overlay_outlines_and_numbers_flagged_zones_only_and_leaves_no_data_transparent():
    cover = np.full((400, 600), 0.5, np.float32)
    cover[:20] = np.nan
    zones = [{"id": 7, "flags": ["low_cover"], "pixel_bounds": (100, 100, 300, 300)},
             {"id": 8, "flags": [], "pixel_bounds": (100, 350, 300, 550)}]
    img = _decode(overlay_png(cover, zones=zones))
    assert img.shape == (400, 600, 4)
    assert (img[:20, :, 3] == 0).all() and (img[20:, :, 3] == 255).all()
    red = np.all(img == np.array(ZONE_RGBA, np.uint8), axis=-1)
    assert red[100, 100:300].all() and red[299, 100:300].all() and red[100:300, 100].all() and red[100:300, 299].all()
    reddish = (img[..., 0] > 180) & (img[..., 1] < 150)  # the number is anti-aliased
    assert reddish[102:120, 102:130].sum() > 10      # the zone's number inside its top-left corner
    assert not red[100:300, 350:550].any()           # an unflagged zone is not drawn
    assert not reddish[150:290, 150:290].any()       # nothing inside the outline but the number


def test_overlay_is_decimated_to_max_side_with_zone_bounds_scaled():
    cover = np.full((3000, 1500), 0.2, np.float32)
    zones = [{"id": 1, "flags": ["patchy"], "pixel_bounds": (600, 300, 1200, 900)}]
    img = _decode(overlay_png(cover, zones=zones, max_side=1000))
    assert img.shape[:2] == (1000, 500)
    red = np.all(img == np.array(ZONE_RGBA, np.uint8), axis=-1)
    assert red[200, 100:300].all() and red[100 + 100:400, 100].all()


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_cover_geotiff_is_band_interleaved_and_its_overviews_are_gdals_average(tmp_path):
    """Issue 13, fourth round: the band-interleaved cover GeoTIFF's overviews are exactly GDAL's average
    overviews of its base (built again on the same windows with GDAL's defaults)."""
    import rasterio
    from rasterio.enums import Resampling

    from edgeinv.apps.veg_cover.outputs import CoverGeoTiff, overview_factors, read_cover

    rng = np.random.default_rng(4)
    windows = []
    for r in range(0, 520, 256):
        for c in range(0, 700, 256):
            h, wd = min(256, 520 - r), min(256, 700 - c)
            windows.append(dict(row=r, col=c, cover=rng.random((h, wd), dtype=np.float32),
                                std=0.1 * rng.random((h, wd), dtype=np.float32), valid=rng.random((h, wd)) > 0.1))
    path, plain = tmp_path / "cover.tif", tmp_path / "plain.tif"
    for p in (path, plain):
        w = CoverGeoTiff(p, width=700, height=520)
        for win in windows:
            w.write(**win)
        w.close(overviews=p == path)  # the plain one gets GDAL's overviews with its defaults, below
    factors = overview_factors(700, 520)
    assert factors == [4]  # from 4x down, while the level is at least half a block
    with rasterio.open(plain, "r+") as ds:
        ds.build_overviews(factors, Resampling.average)
    with rasterio.open(path) as a, rasterio.open(plain) as b:
        assert a.overviews(1) == b.overviews(1) == factors
        assert a.interleaving.name.lower() == "band" and a.compression.name.lower() == "zstd"
        for f in factors:
            shape = (2, -(-520 // f), -(-700 // f))
            np.testing.assert_array_equal(a.read(out_shape=shape), b.read(out_shape=shape))
    cover, std = read_cover(path)
    assert np.isnan(cover).any() and np.isfinite(cover).mean() > 0.8


def test_overview_levels_start_at_4x_and_small_maps_get_2x():
    from edgeinv.apps.veg_cover.outputs import overview_factors

    assert overview_factors(20000, 20000) == [4, 8, 16, 32, 64, 128]  # the last level 156 px: >= half a block
    assert overview_factors(7000, 7000) == [4, 8, 16, 32]
    assert overview_factors(420, 300) == [2]
    assert overview_factors(200, 100) == []


def test_stored_cover_is_uint8_steps_of_0_004_with_nodata_255():
    """Issue 13, fifth round: the cover and its sd are stored as uint8 x 0.004 (1/250); the rounding error is at
    most 0.002, values above 1.016 saturate, NaN / not valid -> 255 -> NaN again."""
    from edgeinv.apps.veg_cover.outputs import NODATA, SCALE, from_stored, to_stored

    v = np.array([0.0, 0.001, 0.0021, 0.5, 0.9999, 1.0, 1.016, 3.0, -0.2, np.nan, 0.3], np.float32)
    valid = np.ones(v.shape, bool)
    valid[-1] = False
    q = to_stored(v, valid)
    assert q.dtype == np.uint8 and SCALE == 0.004 and NODATA == 255
    assert q.tolist() == [0, 0, 1, 125, 250, 250, 254, 254, 0, 255, 255]
    back = from_stored(q)
    assert back[5] == np.float32(1.0)
    ok = np.isfinite(v) & valid & (v >= 0) & (v <= 1.016)
    assert np.abs(back[ok] - v[ok]).max() <= 0.002 + 1e-7
    assert np.isnan(back[-2:]).all()
    x = np.random.default_rng(0).random(100_000, dtype=np.float32)  # RMS rounding error: step / sqrt(12)
    err = from_stored(to_stored(x, np.ones(x.shape, bool))) - x
    assert abs(float(np.sqrt(np.mean(err.astype(np.float64) ** 2))) - 0.004 / np.sqrt(12)) < 5e-5


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_read_cover_reads_a_map_by_its_own_scale_and_nodata(tmp_path):
    """A map written before the uint8 format (uint16 x 1e-4, nodata 65535) still reads right."""
    import rasterio

    from edgeinv.apps.veg_cover.outputs import read_cover, read_preview

    path = tmp_path / "old.tif"
    stored = np.array([[0, 5000, 10000, 65535]], np.uint16).repeat(4, axis=0)
    with rasterio.open(path, "w", driver="GTiff", width=4, height=4, count=2, dtype="uint16", nodata=65535) as ds:
        ds.write(np.stack([stored, np.where(stored == 65535, stored, stored // 10)]))
        ds.scales = (1e-4, 1e-4)
    cover, std = read_cover(path)
    np.testing.assert_allclose(cover[0, :3], [0.0, 0.5, 1.0], atol=1e-6)
    np.testing.assert_allclose(std[0, :3], [0.0, 0.05, 0.1], atol=1e-6)
    assert np.isnan(cover[:, 3]).all() and np.isnan(std[:, 3]).all()
    preview, f = read_preview(path)
    assert f == 1.0 and np.isnan(preview[:, 3]).all() and preview[0, 1] == pytest.approx(0.5, abs=1e-6)
