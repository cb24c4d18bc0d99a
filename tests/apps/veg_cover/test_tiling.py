"""Windowed processing: tiles cover the raster once, tiled output equals whole-image output, georeferencing survives."""

import numpy as np
import pytest
import rasterio

from edgeinv.apps.veg_cover import tiling
from edgeinv.apps.veg_cover.model import ARCH, build, receptive_radius
from edgeinv.apps.veg_cover.outputs import read_cover

MS = ["blue", "green", "red", "rededge", "nir"]


def test_tiles_cover_every_pixel_once():
    seen = np.zeros((301, 517), int)
    for t in tiling.tiles(height=301, width=517, tile_px=128, margin_px=16):
        seen[t.row:t.row + t.height, t.col:t.col + t.width] += 1
        assert t.read_row <= t.row and t.read_row + t.read_height >= t.row + t.height
        rs, cs = t.crop
        assert rs.stop <= t.read_height and cs.stop <= t.read_width
    assert np.all(seen == 1)


def test_odd_tile_sizes_and_margins_are_rounded_so_windows_start_at_even_pixels():
    """The coarse nets work on 2 x 2 groups from the window's origin: tiles must keep that phase."""
    seen = np.zeros((301, 517), int)
    for t in tiling.tiles(height=301, width=517, tile_px=127, margin_px=7):
        seen[t.row:t.row + t.height, t.col:t.col + t.width] += 1
        assert t.read_row % 2 == t.read_col % 2 == t.row % 2 == t.col % 2 == 0
        assert t.row - t.read_row in (0, 8) and t.col - t.read_col in (0, 8)
    assert np.all(seen == 1)


def test_odd_tiles_give_the_whole_image_result(vc_app, tiny_runner, big_scene):
    """An odd --tile-px (rounded up to even) still gives the whole-image map of a space-to-depth net."""
    tiled = vc_app.predict(vc_app.read(big_scene, tile_px=99, out="none"), tiny_runner)
    whole = vc_app.predict(vc_app.read(big_scene, tile_px=4096, out="none"), tiny_runner)
    np.testing.assert_allclose(tiled.cover, whole.cover, atol=2e-5)


def test_tiles_in_bands_of_blocks_cover_every_pixel_once_band_by_band():
    seen = np.zeros((1301, 2517), int)
    order = []
    for t in tiling.tiles(height=1301, width=2517, tile_px=128, margin_px=8, group_px=256, band_groups=3):
        seen[t.row:t.row + t.height, t.col:t.col + t.width] += 1
        # band of 3 blocks (its edges mid-block: 640, 1408, 2176), tile row, tile column
        order.append(((t.col + 128) // 768, t.row, t.col))
    assert np.all(seen == 1)
    assert order == sorted(order)  # band by band, each row-major: tile rows top to bottom, left to right


def test_bands_end_mid_block_so_neighbours_share_one_block_column():
    """Issue 13, fifth round: a band's read windows (margins included) touch only the block columns its tiles
    lie in, and two neighbouring bands share exactly one (at block-aligned band edges each band's margins
    reached one more column on either side, decoded again later)."""
    touched: dict[int, set] = {}
    for t in tiling.tiles(height=1301, width=2517, tile_px=128, margin_px=8, group_px=256, band_groups=3):
        band = (t.col + 128) // 768
        touched.setdefault(band, set()).update(range(t.read_col // 256, (t.read_col + t.read_width - 1) // 256 + 1))
    assert touched == {0: {0, 1, 2}, 1: {2, 3, 4, 5}, 2: {5, 6, 7, 8}, 3: {8, 9}}


def test_band_width_keeps_two_block_rows_and_headroom_in_the_cache():
    block = 512 * 512 * 5 * 2  # a 512 px block of 5 uint16 bands
    assert tiling.band_for_cache(block, 64 * 2**20) == 9  # 2.5 rows x (9 + 1) blocks touched = 62.5 MiB
    assert tiling.band_for_cache(block, 4 * 2**20) == 1 and tiling.band_for_cache(None) is None


def test_band_order_gives_the_row_major_result(vc_app, tiny_runner, tmp_path, write_tif, monkeypatch):
    rng = np.random.default_rng(9)
    bands = (0.1 + 0.3 * rng.random((5, 300, 700))).astype(np.float32)
    path = write_tif(tmp_path / "wide.tif", bands, descriptions=MS, tiled=True)  # 256 px blocks
    row_major = vc_app.predict(vc_app.read(path, tile_px=128, out="none"), tiny_runner)
    monkeypatch.setattr(tiling, "band_for_cache", lambda *a, **k: 1)  # one block column per band
    banded = vc_app.predict(vc_app.read(path, tile_px=128, out="none"), tiny_runner)
    np.testing.assert_array_equal(banded.cover, row_major.cover)
    np.testing.assert_array_equal(banded.std, row_major.std)
    a, b = banded.to_dict(), row_major.to_dict()
    assert [z["flags"] for z in a["zones"]] == [z["flags"] for z in b["zones"]]
    for key in ("fvc_mean", "fvc_pixel_std", "fvc_patchiness", "confidence_std"):  # float64 sums, another order
        assert [z.get(key) for z in a["zones"]] == pytest.approx([z.get(key) for z in b["zones"]], abs=1e-12)
    assert a["fvc_mean"] == pytest.approx(b["fvc_mean"], abs=1e-12)


def test_margin_covers_the_receptive_field():
    for (size, config) in ARCH:
        assert receptive_radius(build(in_channels=7, size=size, config=config)) <= tiling.MARGIN_PX
    assert tiling.MARGIN_PX % tiling.ALIGN_PX == tiling.TILE_PX % tiling.ALIGN_PX == 0


@pytest.fixture
def big_scene(tmp_path, write_tif):
    rng = np.random.default_rng(5)
    h, w = 300, 420  # larger than one 128 px tile in both directions
    veg = np.clip(np.cumsum(rng.normal(0, 0.08, (h, w)), axis=1) % 1.0, 0, 1)
    soil = np.array([0.12, 0.15, 0.19, 0.21, 0.25])[:, None, None]
    leaf = np.array([0.03, 0.08, 0.04, 0.20, 0.45])[:, None, None]
    bands = (soil * (1 - veg) + leaf * veg + rng.normal(0, 0.004, (5, h, w))).clip(0, 1).astype(np.float32)
    return write_tif(tmp_path / "field.tif", bands, descriptions=MS, tiled=True)


def test_windowed_equals_whole_image(vc_app, tiny_runner, big_scene, tmp_path):
    tiled = vc_app.predict(vc_app.read(big_scene, tile_px=128, out=str(tmp_path / "a.tif")), tiny_runner)
    whole = vc_app.predict(vc_app.read(big_scene, tile_px=4096, out="none"), tiny_runner)
    assert tiled.cover.shape == whole.cover.shape == (300, 420)
    np.testing.assert_allclose(tiled.cover, whole.cover, atol=2e-5)
    np.testing.assert_allclose(tiled.std, whole.std, atol=2e-5)
    assert tiled.fvc_mean == pytest.approx(whole.fvc_mean, abs=1e-6)
    assert [z["fvc_mean"] for z in tiled.zones] == pytest.approx([z["fvc_mean"] for z in whole.zones], abs=1e-6)


def test_cover_geotiff_keeps_georeferencing(vc_app, tiny_runner, big_scene, tmp_path):
    out = tmp_path / "cover.tif"
    res = vc_app.predict(vc_app.read(big_scene, out=str(out), tile_px=128), tiny_runner)
    with rasterio.open(big_scene) as src, rasterio.open(out) as dst:
        assert dst.crs == src.crs and dst.transform == src.transform
        assert (dst.width, dst.height, dst.count, dst.dtypes[0]) == (420, 300, 2, "uint8")
        assert dst.descriptions == ("cover_fraction", "cover_fraction_std")
        assert dst.scales == (0.004, 0.004) and dst.nodata == 255
        assert dst.profile["tiled"] and dst.compression.name.lower() == "zstd"
        assert dst.overviews(1) == [2], "overviews missing"  # too small for a 4x level (outputs.overview_factors)
    # the stored map is the in-memory one to the storage step (0.004; rounding: at most half of it)
    cover, std = read_cover(out)
    np.testing.assert_allclose(cover, res.cover, atol=0.002 + 1e-6, rtol=0)
    np.testing.assert_allclose(std, res.std, atol=0.002 + 1e-6, rtol=0)
    assert np.abs(cover - res.cover).max() > 1e-4  # and it is the uint8 step, not a finer one
    png = out.with_suffix(".png")
    assert res.outputs == {"cover_geotiff": str(out), "overlay_png": str(png)}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert res.georeferenced and res.zones[0]["bounds"]


def test_nodata_pixels_stay_nodata(vc_app, tiny_runner, tmp_path, write_tif, ms_bands):
    bands = ms_bands.copy()
    bands[:, :5, :] = -1.0
    path = write_tif(tmp_path / "nod.tif", bands, descriptions=MS, nodata=-1.0)
    res = vc_app.predict(vc_app.read(path, out="none"), tiny_runner)
    assert np.isnan(res.cover[:5]).all() and np.isfinite(res.cover[5:]).all()
    assert res.pixels == 35 * 48
    out = tmp_path / "nod_cover.tif"
    vc_app.predict(vc_app.read(path, out=str(out)), tiny_runner)
    cover, std = read_cover(out)
    assert np.isnan(cover[:5]).all() and np.isnan(std[:5]).all() and np.isfinite(cover[5:]).all()


def test_failed_run_leaves_no_half_written_cover(vc_app, big_scene, tmp_path):
    out = tmp_path / "broken.tif"

    def bad_runner(x):
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        vc_app.predict(vc_app.read(big_scene, out=str(out)), bad_runner)
    assert not out.exists()


def test_multispectral_channels_written_in_place_are_the_former_ones_bit_for_bit():
    """features.channels' in-place multispectral5 branch (issue 13) against the expressions it replaced."""
    from edgeinv.apps.veg_cover import features

    rng = np.random.default_rng(3)
    bands = rng.uniform(-0.2, 4.5, (5, 67, 91)).astype(np.float32)
    bands[:, :3, :3] = 0.0  # NDVI/NDRE of black pixels: 0
    bands[3, 5, :4], bands[4, 5, :4] = 5e-7, 2e-7  # red edge + NIR below EPS: NDRE 0
    got = features.channels(bands, MS, "multispectral5")
    x = np.clip(bands, 0.0, 4.0)
    blue, green, red, rededge, nir = x
    want = np.stack([4 * blue, 4 * green, 4 * red, 4 * rededge, 4 * nir, features.ndvi(red, nir),
                     features.normalised_difference(nir, rededge)]).astype(np.float32)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("holes", [False, True])
def test_zone_sums_equal_direct_sums_with_and_without_invalid_pixels(holes):
    """ZoneGrid.add's all-valid fast path (counts from cell sizes) and masked path give the direct per-cell sums."""
    from edgeinv.apps.veg_cover.interpret import ZoneGrid

    rng = np.random.default_rng(3)
    h, w = 300, 420
    cover, std = rng.random((h, w), dtype=np.float32), rng.random((h, w), dtype=np.float32)
    valid = rng.random((h, w)) > 0.2 if holes else np.ones((h, w), bool)
    grid = ZoneGrid(height=h, width=w, zone_px=100, min_sub_px=1)
    for r in range(0, h, 128):
        for c in range(0, w, 128):
            sl = (slice(r, r + 128), slice(c, c + 128))
            grid.add(row=r, col=c, cover=cover[sl], std=std[sl], valid=valid[sl])
    cells = (np.arange(h)[:, None] // grid.sub_px) * grid.n_sub_c + np.arange(w)[None, :] // grid.sub_px
    n = np.bincount(cells[valid], minlength=grid.count.size)
    np.testing.assert_array_equal(grid.count.ravel(), n)
    np.testing.assert_allclose(grid.total.ravel(), np.bincount(cells[valid], cover[valid].astype(np.float64),
                                                               minlength=n.size), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grid.std_total.ravel(), np.bincount(cells[valid], std[valid].astype(np.float64),
                                                                   minlength=n.size), rtol=1e-12, atol=1e-12)


def _former_zone_add(grid, *, row, col, cover, valid, std):
    """ZoneGrid.add as it was before issue 13's fourth round (float64 copies, fancy-indexed cells)."""
    h, w = cover.shape
    rows, cols = np.arange(row, row + h) // grid.sub_px, np.arange(col, col + w) // grid.sub_px
    rs = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    cs = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
    cells, shape = np.ix_(rows[rs], cols[cs]), (grid.n_sub_r, grid.n_sub_c)

    def block_sums(a):
        return np.add.reduceat(np.add.reduceat(a, rs, axis=0), cs, axis=1)

    v = np.asarray(valid, bool)
    full = bool(v.all())
    n = np.outer(np.diff(np.r_[rs, h]), np.diff(np.r_[cs, w])).astype(np.float64) if full \
        else block_sums(v.astype(np.float64))
    c = np.asarray(cover, np.float64) if full else np.where(v, cover, 0.0).astype(np.float64)
    grid.count.reshape(shape)[cells] += n
    grid.total.reshape(shape)[cells] += block_sums(c)
    grid.total_sq.reshape(shape)[cells] += block_sums(c * c)
    grid.std_total.reshape(shape)[cells] += block_sums(np.asarray(std, np.float64) if full
                                                       else np.where(v, std, 0.0).astype(np.float64))
    grid.std_count.reshape(shape)[cells] += n


@pytest.mark.parametrize("holes", [False, True])
@pytest.mark.parametrize("size,zone_px,min_sub", [((300, 420), 40, 1), ((1000, 900), 200, 20), ((500, 500), 64, 16)])
def test_zone_sums_are_the_former_ones(holes, size, zone_px, min_sub):
    """ZoneGrid.add without float64 copies (issue 13, fourth round) and along the rows first (stop 26) gives the
    former sums, for windows of any size starting anywhere in a sub-cell: the pixel counts exactly, the float64
    sums to 1e-13 relative (the same terms added in another order: rows' runs first, then down the columns)."""
    from edgeinv.apps.veg_cover.interpret import ZoneGrid

    rng = np.random.default_rng(11)
    new, old = (ZoneGrid(height=size[0], width=size[1], zone_px=zone_px, min_sub_px=min_sub) for _ in range(2))
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 257, 2))
        r, c = int(rng.integers(0, size[0] - h + 1)), int(rng.integers(0, size[1] - w + 1))
        cover, std = rng.random((h, w), dtype=np.float32), rng.random((h, w), dtype=np.float32)
        valid = rng.random((h, w)) > 0.2 if holes else np.ones((h, w), bool)
        cover[~valid] = np.nan
        new.add(row=r, col=c, cover=cover, valid=valid, std=std)
        _former_zone_add(old, row=r, col=c, cover=cover, valid=valid, std=std)
    for name in ("count", "std_count"):
        np.testing.assert_array_equal(getattr(new, name), getattr(old, name))
    for name in ("total", "total_sq", "std_total"):
        np.testing.assert_allclose(getattr(new, name), getattr(old, name), rtol=1e-13, atol=0)
        assert np.any(getattr(new, name) > 0)
