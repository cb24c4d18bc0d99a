"""Frames decode to exactly the pixels OpenCV gave (issue 13: OpenCV left the serving path).

JPEGs go through Pillow (libjpeg-turbo, EXIF orientation applied), PNGs through GDAL (rasterio). The
reference is OpenCV's ``imdecode`` with the flags the reader used before (JPEG ``IMREAD_ANYCOLOR |
IMREAD_ANYDEPTH``, PNG ``IMREAD_UNCHANGED``), BGR(A) turned to R, G, B(, A). OpenCV stays a training-side
dependency (the simulator), so it is there to compare with.
"""

import io
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
Image = pytest.importorskip("PIL.Image")

from edgeinv.apps.veg_cover.io import _decode_jpeg, _decode_png, read_image  # noqa: E402
from edgeinv.common.errors import InvalidInputError  # noqa: E402
from tests.apps.veg_cover.test_io import _jpeg_with_orientation  # noqa: E402

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "veg-cover"


def opencv_reference(data: bytes, kind: str) -> np.ndarray:
    flags = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH if kind == "jpeg" else cv2.IMREAD_UNCHANGED
    img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if img.ndim == 2:
        img = img[:, :, None]
    return img[:, :, ::-1] if img.shape[2] == 3 else (img[:, :, [2, 1, 0, 3]] if img.shape[2] == 4 else img)


def ours(data: bytes, kind: str) -> np.ndarray:
    img = _decode_jpeg(data, "x") if kind == "jpeg" else _decode_png(data, "x")
    return img[:, :, None] if img.ndim == 2 else img


def _pil_png(arr, mode, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, "PNG", **kw)
    return buf.getvalue()


def _pngs():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (21, 33, 3), dtype=np.uint8)
    wide = rng.integers(0, 65536, (21, 33, 3), dtype=np.uint16)
    out = {mode: _pil_png(rgb, mode) for mode in ("RGB", "RGBA", "L", "LA", "P", "1")}
    out["P+transparency"] = _pil_png(rgb, "P", transparency=0)
    out["16-bit BGR"] = cv2.imencode(".png", wide)[1].tobytes()
    out["16-bit BGRA"] = cv2.imencode(".png", np.dstack([wide, wide[:, :, :1]]))[1].tobytes()
    out["16-bit grey"] = cv2.imencode(".png", wide[:, :, 0])[1].tobytes()
    return out


@pytest.mark.parametrize("name,data", list(_pngs().items()))
def test_png_decodes_as_opencv_did(name, data):
    ref = opencv_reference(data, "png")
    got = ours(data, "png")
    assert got.dtype == ref.dtype and got.shape == ref.shape, name
    assert np.array_equal(got, ref), name


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_decodes_as_opencv_did_in_every_exif_orientation(orientation):
    rng = np.random.default_rng(orientation)
    img = cv2.GaussianBlur(rng.integers(0, 256, (30, 44, 3), dtype=np.uint8), (5, 5), 0)  # chroma subsampled
    data = _jpeg_with_orientation(img, orientation)
    ref, got = opencv_reference(data, "jpeg"), ours(data, "jpeg")
    assert got.shape == ref.shape and np.array_equal(got, ref)


def test_grey_jpeg_decodes_as_opencv_did():
    data = cv2.imencode(".jpg", np.random.default_rng(3).integers(0, 256, (17, 23), dtype=np.uint8))[1].tobytes()
    assert np.array_equal(ours(data, "jpeg"), opencv_reference(data, "jpeg"))


def test_cut_jpeg_is_refused_with_a_message():
    data = cv2.imencode(".jpg", np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8))[1].tobytes()
    with pytest.raises(InvalidInputError, match="truncated or corrupt"):
        read_image(data[: len(data) // 2], filename="cut.jpg")


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata/veg-cover not present")
def test_real_frames_decode_as_opencv_did():
    files = sorted(p for p in REAL.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png") and "mask" not in
                   p.name.lower() and "mask" not in p.parent.name.lower())
    assert files
    for path in files[::4] + [p for p in files if p.suffix.lower() == ".jpg"][:3]:  # every JPEG kind, a PNG sample
        kind = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "png"
        data = path.read_bytes()
        assert np.array_equal(ours(data, kind), opencv_reference(data, kind)), path.name


@pytest.mark.parametrize("mode,bands,keep", [("RGB", None, [0, 1, 2]), ("RGBA", None, [0, 1, 2]),
                                            ("RGB", "red,ignore,nir", [0, 2]), ("RGB", "ignore,red,nir", [1, 2])])
def test_frame_bands_are_the_cast_and_division_of_before(mode, bands, keep):
    """read_frame casts and divides into (C, H, W) float32 in one pass (issue 13, stop 31): the same bits as the
    transposed copy, ``astype(float32)`` and ``/ float32(255)`` it replaced, for every kept channel."""
    rng = np.random.default_rng(2)
    data = _pil_png(rng.integers(0, 256, (19, 23, 3), dtype=np.uint8), mode)
    img = ours(data, "png")
    got = read_image(data, filename="f.png", bands=bands)
    before = np.ascontiguousarray(np.moveaxis(img[:, :, keep], 2, 0)).astype(np.float32) / np.float32(255.0)
    assert got.bands.flags.c_contiguous and got.bands.dtype == np.float32
    np.testing.assert_array_equal(got.bands.view(np.uint32), before.view(np.uint32))
