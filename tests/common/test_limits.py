"""Decode budgets from headers: compression and header bombs are refused before decoding, fast."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

from edgeinv.common import limits
from edgeinv.common.errors import PayloadTooLargeError


def _refused_fast(fn, *args, match=None, **kw):
    """Refused, and without allocating more than 64 MB on the way (tracemalloc sees numpy's buffers too)."""
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLargeError, match=match):
            fn(*args, **kw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB allocated before refusing"
    return peak


def _jpeg(w=8, h=8):
    import cv2

    ok, buf = cv2.imencode(".jpg", np.zeros((h, w, 3), np.uint8))
    return bytes(buf)


def _patch_jpeg_size(data: bytes, w: int, h: int) -> bytes:
    i = data.index(b"\xff\xc0")
    return data[:i + 5] + struct.pack(">HH", h, w) + data[i + 9:]


def test_jpeg_and_png_headers_declaring_huge_frames():
    small = _jpeg()
    assert limits.check_image(small, "a.jpg") == (8, 8)
    bomb = _patch_jpeg_size(small, 7745, 7745)  # 1.5 KB file, 60 MP declared
    assert len(bomb) < 2000 and limits.image_size(bomb)[:2] == (7745, 7745)
    _refused_fast(limits.check_image, bomb, "bomb.jpg", match="7745 x 7745 px")
    _refused_fast(limits.check_image, _patch_jpeg_size(small, 900, 65500), "tall.jpg", match="900 x 65500")
    import cv2

    png = bytes(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1])
    png_bomb = png[:16] + struct.pack(">II", 60000, 60000) + png[24:]
    _refused_fast(limits.check_image, png_bomb, "bomb.png", match="60000 x 60000")
    assert limits.check_image(b"not an image", "x") is None  # unknown: left to the reader


def test_sparse_geotiff_declaring_a_huge_raster(tmp_path):
    import rasterio

    path = tmp_path / "sparse.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6300, height=6300, count=4, dtype="uint16", tiled=True,
                       blockxsize=256, blockysize=256, compress="deflate", sparse_ok=True):
        pass  # nothing written: a few KB on disk, 300 MB declared
    data = path.read_bytes()
    assert len(data) < 100_000
    _refused_fast(limits.check_image, data, "sparse.tif", max_pixels=20_000_000, match="6300 x 6300")
    assert limits.check_image(data, "sparse.tif", windowed=True) == (6300, 6300)  # window by window: allowed


def test_npy_and_npz_declaring_more_than_they_hold():
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (268_000_000,)})
    _refused_fast(limits.check_npy, buf.getvalue(), "x.npy", match="268000000 values")
    ok = io.BytesIO()
    np.save(ok, np.zeros(10))
    limits.check_npy(ok.getvalue(), "ok.npy")
    # an .npz whose member declares 2 GiB (zip directory patched; nothing that large exists)
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("x.npy", ok.getvalue())
    raw = bytearray(z.getvalue())
    cd = raw.rindex(b"PK\x01\x02")
    raw[cd + 24:cd + 28] = struct.pack("<I", 2**31)  # uncompressed size in the central directory
    _refused_fast(limits.check_npz, bytes(raw), "bomb.npz", match="once inflated")
    limits.check_npz(z.getvalue(), "ok.npz")


def _mat_compressed_bomb(n: int) -> bytes:
    """A MAT v5 file with one zlib-compressed double variable declaring n x 1 (only its header is there)."""
    name = b"x" + b"\x00" * 7
    body = (struct.pack("<II", 6, 8) + struct.pack("<II", 6, 0)  # array flags: mxDOUBLE_CLASS
            + struct.pack("<II", 5, 8) + struct.pack("<ii", n, 1)  # dimensions
            + struct.pack("<II", 1, 1) + name  # name
            + struct.pack("<II", 9, n * 8))  # miDOUBLE data tag, no data follows
    element = struct.pack("<II", 14, len(body) + n * 8) + body
    comp = zlib.compress(element)
    header = b"MATLAB 5.0 MAT-file, crafted for a test".ljust(116, b" ") + b"\x00" * 8 + struct.pack("<H", 0x0100) + b"IM"
    return header + struct.pack("<II", 15, len(comp)) + comp


def test_zlib_mat_variable_declaring_268_m_doubles():
    import scipy.io

    bomb = _mat_compressed_bomb(268_000_000)
    assert len(bomb) < 500
    assert scipy.io.whosmat(io.BytesIO(bomb))[0][1] == (268000000, 1)
    _refused_fast(limits.check_mat, bomb, "bomb.mat", match="268000000 x 1")
    ok = io.BytesIO()
    scipy.io.savemat(ok, {"x": np.zeros(100)}, do_compression=True)
    limits.check_mat(ok.getvalue(), "ok.mat")


def test_flac_declaring_2_to_the_36_frames(tmp_path):
    import soundfile as sf

    path = tmp_path / "a.flac"
    sf.write(path, np.zeros(1000, np.float32), 48000, format="FLAC")
    data = bytearray(path.read_bytes())
    limits.check_audio(bytes(data), "ok.flac")
    # STREAMINFO: total samples are the low 36 bits of bytes 21..25 of the block (after 'fLaC' + 4)
    off = 4 + 4 + 13
    packed = int.from_bytes(data[off:off + 5], "big")
    packed = (packed & ~((1 << 36) - 1)) | ((1 << 36) - 1)
    data[off:off + 5] = packed.to_bytes(5, "big")
    _refused_fast(limits.check_audio, bytes(data), "bomb.flac", match="frames")


def test_huge_csv_and_a_line_too_long():
    data = b"1,2\n" * 3_000_000  # 12 MB
    _refused_fast(limits.check_text, data, "big.csv", max_lines=2_000_000, match="3,000,000 lines")
    _refused_fast(limits.check_text, b'wl,"' + b"a" * 200_000 + b'"\n', "q.csv", max_field=131_072,
                  match="characters per line")
    limits.check_text(b"wl,r\n500,0.1\n", "ok.csv")
