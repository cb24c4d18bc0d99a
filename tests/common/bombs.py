"""Compression and header bombs, small on disk and huge once decoded (shared by the limits and bad-input tests)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np


def jpeg_declaring(w: int, h: int) -> bytes:
    """A real 8x8 JPEG whose frame header is patched to declare w x h px (~1 KB)."""
    import cv2

    data = bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1])
    i = data.index(b"\xff\xc0")
    return data[:i + 5] + struct.pack(">HH", h, w) + data[i + 9:]


def png_declaring(w: int, h: int) -> bytes:
    import cv2

    data = bytes(cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1])
    return data[:16] + struct.pack(">II", w, h) + data[24:]


def sparse_geotiff(path, size: int = 6300, bands: int = 4) -> bytes:
    """A tiled GeoTIFF with nothing written: a few KB on disk, ``size``² px declared."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=bands, dtype="uint16",
                           tiled=True, blockxsize=256, blockysize=256, compress="deflate", sparse_ok=True):
            pass
    return open(path, "rb").read()


def npy_declaring(n: int) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
    return buf.getvalue() + b"\0" * 64


def npz_declaring(nbytes: int, **scalars) -> bytes:
    """An .npz whose ``signal`` member's uncompressed size is patched to ``nbytes`` in the zip directory."""
    small = io.BytesIO()
    np.save(small, np.zeros(64))
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("signal.npy", small.getvalue())
        for k, v in scalars.items():
            b = io.BytesIO()
            np.save(b, np.asarray(v))
            zf.writestr(f"{k}.npy", b.getvalue())
    raw = bytearray(z.getvalue())
    cd = raw.index(b"PK\x01\x02")
    raw[cd + 24:cd + 28] = struct.pack("<I", nbytes)
    return bytes(raw)


def mat_zlib_declaring(n: int, name: bytes = b"X000_DE_time") -> bytes:
    """A MAT v5 file with one zlib-compressed double variable declaring n x 1 (only its header is there)."""
    padded = name + b"\x00" * (-len(name) % 8)
    body = (struct.pack("<II", 6, 8) + struct.pack("<II", 6, 0)
            + struct.pack("<II", 5, 8) + struct.pack("<ii", n, 1)
            + struct.pack("<II", 1, len(name)) + padded
            + struct.pack("<II", 9, n * 8))
    element = struct.pack("<II", 14, len(body) + n * 8) + body
    comp = zlib.compress(element)
    header = b"MATLAB 5.0 MAT-file, crafted bomb".ljust(116, b" ") + b"\x00" * 8 + struct.pack("<H", 0x0100) + b"IM"
    return header + struct.pack("<II", 15, len(comp)) + comp


def flac_declaring(frames_bits: int = 36, fs: int = 48000) -> bytes:
    """A real short FLAC whose STREAMINFO total-samples field says 2^frames_bits - 1."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.zeros(4800, np.float32), fs, format="FLAC")
    data = bytearray(buf.getvalue())
    off = 4 + 4 + 13
    packed = int.from_bytes(data[off:off + 5], "big")
    data[off:off + 5] = ((packed & ~((1 << 36) - 1)) | ((1 << frames_bits) - 1)).to_bytes(5, "big")
    return bytes(data)


def csv_lines(n: int, header: bytes = b"time_s,acc_g\n") -> bytes:
    return header + b"0.1,0.2\n" * n


def csv_long_field(chars: int = 140_000) -> bytes:
    return b'wavelength_nm,"' + b"a" * chars + b'"\n500,0.1\n'
