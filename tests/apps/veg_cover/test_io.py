"""Readers: GeoTIFF (roles, scale, nodata, georeferencing) and JPEG/PNG frames (BGR), and broken files."""

import cv2
import numpy as np
import pytest

from edgeinv.apps.veg_cover.io import RasterSource, VegImage, frame_size, read_image
from edgeinv.common.errors import (InvalidInputError, MissingMetadataError, PayloadTooLargeError,
                                   UnsupportedFormatError)

MS = ["blue", "green", "red", "rededge", "nir"]


def test_geotiff_roles_from_descriptions_and_georeferencing(tmp_path, ms_bands, write_tif):
    path = write_tif(tmp_path / "ms.tif", ms_bands, descriptions=["Blue", "Green", "Red", "Red Edge", "NIR"])
    src = read_image(path)
    assert isinstance(src, RasterSource) and src.band_names == tuple(MS)
    assert src.georeferenced and src.crs.to_epsg() == 32631 and src.gsd_m == pytest.approx(0.05)
    bands, valid = src.read_window(3, 4, 10, 12)
    np.testing.assert_allclose(bands, ms_bands[:, 3:13, 4:16], rtol=1e-6)
    assert valid.all()


def test_bands_flag_overrides_and_ignores(tmp_path, ms_bands, write_tif):
    path = write_tif(tmp_path / "x.tif", ms_bands)
    src = read_image(path, bands="ignore,ignore,red,ignore,nir")
    assert src.band_names == ("red", "nir")
    np.testing.assert_allclose(src.read_window(0, 0, 2, 2)[0][1], ms_bands[4, :2, :2], rtol=1e-6)


@pytest.mark.parametrize("bands,match", [("red,nir", "has 5 band"), ("red,nir,green,blue,swir", "unknown band name"),
                                         ("red,red,green,blue,nir", "more than once"),
                                         ("green,blue,ignore,ignore,ignore", "not enough")])
def test_bad_band_lists_are_refused(tmp_path, ms_bands, bands, match, write_tif):
    path = write_tif(tmp_path / "x.tif", ms_bands)
    with pytest.raises(InvalidInputError, match=match):
        read_image(path, bands=bands)


def test_unlabelled_bands_need_the_flag(tmp_path, ms_bands, write_tif):
    path = write_tif(tmp_path / "x.tif", ms_bands)
    with pytest.raises(MissingMetadataError, match="--bands"):
        read_image(path)
    bad = write_tif(tmp_path / "y.tif", ms_bands, descriptions=["b1", "b2", "b3", "b4", "b5"])
    with pytest.raises(InvalidInputError, match="unknown band description"):
        read_image(bad)


def test_uint16_with_gdal_scale_tag(tmp_path, ms_bands, write_tif):
    dn = np.round(ms_bands * 10000).astype(np.uint16)
    path = write_tif(tmp_path / "u16.tif", dn, descriptions=MS, scales=[1e-4] * 5)
    np.testing.assert_allclose(read_image(path).read_window(0, 0, 5, 5)[0], ms_bands[:, :5, :5], atol=1e-4)
    plain = write_tif(tmp_path / "plain.tif", dn, descriptions=MS)
    np.testing.assert_allclose(read_image(plain, reflectance_scale=10000).read_window(0, 0, 5, 5)[0],
                               ms_bands[:, :5, :5], atol=1e-4)


def test_integer_samples_under_an_overflowing_scale_are_still_refused(tmp_path, ms_bands, write_tif):
    """The per-window NaN/inf check is skipped only for integers under a finite, non-overflowing gain."""
    dn = np.round(ms_bands * 10000).astype(np.uint16)
    src = read_image(write_tif(tmp_path / "ok.tif", dn, descriptions=MS, scales=[1e-4] * 5))
    assert src._always_finite
    with pytest.raises(InvalidInputError, match="NaN or infinite"):  # 65535 * 1e38 overflows float32
        read_image(write_tif(tmp_path / "huge.tif", dn, descriptions=MS, scales=[1e38] * 5),
                   reflectance_scale=1.0).read_window(0, 0, 40, 48)


def test_values_that_are_not_reflectance_need_a_scale(tmp_path, ms_bands, write_tif):
    path = write_tif(tmp_path / "dn.tif", (ms_bands * 10000).astype(np.float32), descriptions=MS)
    with pytest.raises(InvalidInputError, match="reflectance-scale"):
        read_image(path)


def test_nan_needs_a_nodata_declaration(tmp_path, ms_bands, write_tif):
    bad = ms_bands.copy()
    bad[2, 5, 5] = np.nan
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        read_image(write_tif(tmp_path / "nan.tif", bad, descriptions=MS)).read_window(0, 0, 40, 48)
    inf = ms_bands.copy()
    inf[0, 0, 0] = np.inf
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        read_image(write_tif(tmp_path / "inf.tif", inf, descriptions=MS))
    ok = read_image(write_tif(tmp_path / "nod.tif", bad, descriptions=MS, nodata=float("nan")))
    bands, valid = ok.read_window(0, 0, 40, 48)
    assert not valid[5, 5] and valid.sum() == 40 * 48 - 1 and np.isfinite(bands).all()


def _png(img_rgb, path=None, ext=".png"):
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(img_rgb[..., ::-1]))
    assert ok
    if path is not None:
        path.write_bytes(buf.tobytes())
    return buf.tobytes()


def test_png_frame_undoes_opencv_bgr():
    img = np.zeros((6, 9, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 200, 100, 50  # R, G, B as a viewer shows them
    frame = read_image(_png(img), filename="f.png")
    assert isinstance(frame, VegImage) and frame.band_names == ("red", "green", "blue")
    np.testing.assert_allclose(frame.bands[:, 0, 0], [200 / 255, 100 / 255, 50 / 255])
    assert not frame.georeferenced


def test_frame_band_order_from_flag_and_jpeg(tmp_path):
    img = np.zeros((16, 16, 3), np.uint8)
    img[..., 0], img[..., 2] = 40, 180  # a red-green-NIR camera: NIR in the third channel
    frame = read_image(_png(img, tmp_path / "rgn.jpg", ".jpg") and tmp_path / "rgn.jpg", bands="red,green,nir")
    assert frame.band_names == ("red", "green", "nir")
    assert abs(frame.bands[2].mean() - 180 / 255) < 0.03 and abs(frame.bands[0].mean() - 40 / 255) < 0.03


def test_frame_size_from_header_matches_decoder():
    img = np.zeros((37, 53, 3), np.uint8)
    for ext, kind in ((".png", "png"), (".jpg", "jpeg")):
        assert frame_size(_png(img, ext=ext), kind) == (53, 37)


def test_oversized_frames_are_refused_before_decoding():
    data = _png(np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(PayloadTooLargeError, match="exceeds the limit"):
        read_image(data, filename="big.png", max_pixels=1000)


def test_large_geotiff_streams_but_does_not_load(tmp_path, ms_bands, write_tif):
    src = read_image(write_tif(tmp_path / "ms.tif", ms_bands, descriptions=MS))
    with pytest.raises(PayloadTooLargeError):
        src.load(max_pixels=100)
    assert src.load().bands.shape == ms_bands.shape


@pytest.mark.parametrize("payload,error", [(b"", InvalidInputError), (b"GIF89a" + b"\0" * 50, UnsupportedFormatError),
                                           (b"time,value\n1,2\n", UnsupportedFormatError)])
def test_empty_and_wrong_format(payload, error):
    with pytest.raises(error):
        read_image(payload, filename="x.bin")


def test_empty_file_on_disk(tmp_path):
    (tmp_path / "e.tif").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="empty"):
        read_image(tmp_path / "e.tif")


def test_truncated_files_are_refused(tmp_path, ms_bands, write_tif):
    png = _png((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8))
    with pytest.raises(InvalidInputError, match="truncated or corrupt"):
        read_image(png[: len(png) // 2], filename="cut.png")
    with pytest.raises(InvalidInputError):
        read_image(png[:20], filename="cut.png")
    tif = write_tif(tmp_path / "t.tif", np.random.default_rng(1).random((5, 300, 300)).astype(np.float32),
                        descriptions=MS, tiled=True).read_bytes()
    with pytest.raises(InvalidInputError):
        read_image(tif[: len(tif) // 2], filename="cut.tif")


def test_single_channel_frame_needs_bands():
    data = cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes()
    with pytest.raises(MissingMetadataError):
        read_image(data, filename="gray.png")


def test_app_read_keeps_options_and_checks_camera(vc_app, tmp_path, ms_bands, write_tif):
    path = write_tif(tmp_path / "ms.tif", ms_bands, descriptions=MS)
    s = vc_app.read(path, zone_m=2.0)
    assert s.options["zone_m"] == 2.0 and "out" not in s.options
    assert vc_app.config_for(s) == "multispectral5"
    assert vc_app.config_for(vc_app.read(path, camera="red_nir")) == "red_nir"
    with pytest.raises(InvalidInputError, match="needs bands"):
        vc_app.config_for(vc_app.read(path, bands="blue,green,red,ignore,ignore", camera="red_nir"))


def test_alpha_marks_no_data_in_geotiff_and_png(tmp_path, ms_bands, write_tif):
    import rasterio
    from rasterio.enums import ColorInterp

    rgb = (ms_bands[[2, 1, 0]] * 255 / 0.5).clip(0, 255).astype(np.uint8)
    alpha = np.full((1, 40, 48), 255, np.uint8)
    alpha[0, :, :6] = 0  # outside the field
    path = write_tif(tmp_path / "rgba.tif", np.concatenate([rgb, alpha]))
    with rasterio.open(path, "r+") as ds:
        ds.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue, ColorInterp.alpha]
    src = read_image(path)
    assert src.band_names == ("red", "green", "blue")
    valid = src.read_window(0, 0, 40, 48)[1]
    assert not valid[:, :6].any() and valid[:, 6:].all()
    png = cv2.imencode(".png", np.moveaxis(np.concatenate([rgb[::-1], alpha]), 0, 2))[1].tobytes()  # BGRA
    frame = read_image(png, filename="rgba.png")
    assert frame.band_names == ("red", "green", "blue") and frame.valid.sum() == 40 * 42


def _jpeg_with_orientation(img_bgr, orientation: int) -> bytes:
    """A JPEG whose APP1 segment carries only an EXIF orientation tag."""
    import struct

    jpg = cv2.imencode(".jpg", img_bgr, [cv2.IMWRITE_JPEG_QUALITY, 98])[1].tobytes()
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    return jpg[:2] + app1 + jpg[2:]


def test_jpeg_exif_orientation_is_applied():
    from edgeinv.apps.veg_cover.io import exif_orientation

    img = np.zeros((40, 60, 3), np.uint8)
    img[:10, :10] = (0, 200, 0)  # green block top-left, as stored
    data = _jpeg_with_orientation(img, 3)  # 3 = rotated 180 degrees
    assert exif_orientation(data) == 3
    s = read_image(data, filename="rot.jpg")
    assert s.meta["exif_orientation"] == 3 and s.meta["radiometry"] == "dn"
    g = s.bands[1]
    assert g[-5:, -5:].mean() > 0.6 and g[:5, :5].mean() < 0.2  # upright: the block is now bottom-right


def test_duplicated_channels_read_as_red_nir():
    rng = np.random.default_rng(0)
    red, nir = rng.integers(0, 255, (2, 20, 30), dtype=np.uint8)
    png = cv2.imencode(".png", np.dstack([red, nir, red]))[1].tobytes()  # BGR: B = red, G = nir, R = red
    s = read_image(png, filename="cwfid.png")
    assert s.band_names == ("red", "nir") and "band_mapping" in s.meta
    assert np.allclose(s.bands[1] * 255, nir)
    grey = cv2.imencode(".png", np.dstack([red, red, red]))[1].tobytes()
    assert "grey" in read_image(grey, filename="grey.png").meta["band_mapping"]
    assert read_image(grey, filename="grey.png", bands="red,nir,ignore").band_names == ("red", "nir")
