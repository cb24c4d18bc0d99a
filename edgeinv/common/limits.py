"""Decode budgets checked from a file's header, before anything is decoded (edge side, no torch).

A 1.5 KB JPEG can declare 7745 x 7745 px, a 5 KB sparse GeoTIFF 6300² px, a zlib-compressed MATLAB
variable 268 M doubles, an ``.npz`` member 2 GiB, a FLAC 2³⁶ frames: a reader that decodes first and
checks the size afterwards takes the device down. Every function here reads only the header (or the
archive's directory), works out what decoding would allocate, and raises
:class:`~edgeinv.common.errors.PayloadTooLargeError` (413 / exit 2) with the declared size and the
budget — in well under a second, whatever the file says. Unparseable headers are left to the reader
(which refuses them as corrupt); these checks only ever refuse, they never accept on a reader's behalf.

Budgets (defaults, overridable per call): :data:`MAX_DECODED_BYTES` for any decoded array,
:data:`MAX_PIXELS` for an image decoded whole, :data:`MAX_SAMPLES` for a recording,
:data:`MAX_TEXT_LINES` for a table.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np

from .errors import PayloadTooLargeError

__all__ = ["MAX_DECODED_BYTES", "MAX_PIXELS", "MAX_SAMPLES", "MAX_TEXT_LINES", "image_size", "check_image",
           "check_npy", "check_npz", "check_mat", "check_audio", "check_text", "check_elements"]

MAX_DECODED_BYTES = 256 * 2**20  # 256 MiB for one decoded array (the service runs under MemoryMax=512M)
MAX_PIXELS = 40_000_000  # an image decoded whole (JPEG/PNG frames; GeoTIFFs are read window by window)
MAX_SAMPLES = 20_000_000  # ~7 min at 48 kHz
MAX_TEXT_LINES = 2_000_000


def _too_large(what: str, declared: str, budget: str, verb: str = "declares") -> PayloadTooLargeError:
    return PayloadTooLargeError(f"{what}: {verb} {declared}, over the budget of {budget}; refused before decoding",
                                hint="split the file, or raise the limit in the settings if the device has the memory")


def check_elements(what: str, shape, itemsize: int, *, max_bytes: int = MAX_DECODED_BYTES) -> None:
    """Refuse an array whose declared shape and item size exceed ``max_bytes`` once decoded."""
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    if n * int(itemsize) > max_bytes:
        dims = " x ".join(str(int(d)) for d in shape)
        raise _too_large(what, f"{dims} values ({n * itemsize / 2**20:,.0f} MiB decoded)", f"{max_bytes / 2**20:,.0f} MiB")


# ---- images ----------------------------------------------------------------------------------------


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        seg = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in _SOF and i + 9 <= n:
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + seg
    return None


def _tiff_size(data: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bands, bytes per sample) of a TIFF/GeoTIFF from its directory (rasterio, no pixels read)."""
    if data[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return None
    try:
        from rasterio.io import MemoryFile

        with MemoryFile(data) as mem, mem.open() as ds:
            return ds.width, ds.height, ds.count, int(np.dtype(ds.dtypes[0]).itemsize)
    except Exception:  # noqa: BLE001 - unreadable header: the reader refuses it as corrupt
        return None


def image_size(data: bytes) -> tuple[int, int, int] | None:
    """``(width, height, bands)`` declared by a PNG, JPEG or TIFF header, or None if not recognised."""
    for parse in (_png_size, _jpeg_size):
        wh = parse(data)
        if wh is not None:
            return wh[0], wh[1], 0
    t = _tiff_size(data)
    return (t[0], t[1], t[2]) if t else None


def check_image(data: bytes, what: str, *, max_pixels: int = MAX_PIXELS, windowed: bool = False,
                max_bytes: int = MAX_DECODED_BYTES) -> tuple[int, int] | None:
    """Refuse an image that would decode past the budget; return its declared ``(width, height)``.

    ``windowed``: the caller reads a (Geo)TIFF window by window (large orthomosaics stay allowed); then
    only one row of tiles needs to fit, so just the declared band count x dtype per pixel is bounded.
    """
    png, jpg = _png_size(data), _jpeg_size(data)
    wh = png or jpg
    if wh is not None:
        w, h = wh
        if w * h > max_pixels:
            raise _too_large(what, f"{w} x {h} px ({w * h / 1e6:,.1f} MP)", f"{max_pixels / 1e6:,.0f} MP")
        return w, h
    t = _tiff_size(data)
    if t is None:
        return None
    w, h, bands, item = t
    if not windowed:
        if w * h > max_pixels:
            raise _too_large(what, f"{w} x {h} px ({w * h / 1e6:,.1f} MP)", f"{max_pixels / 1e6:,.0f} MP")
        check_elements(what, (bands, h, w), item, max_bytes=max_bytes)
    elif bands * item * w * 512 > max_bytes:  # one row of 512 px tiles must fit
        raise _too_large(what, f"{bands} bands of {w} px rows", f"{max_bytes / 2**20:,.0f} MiB per row of tiles")
    return w, h


# ---- arrays ----------------------------------------------------------------------------------------


def _npy_header(fh) -> tuple[tuple, np.dtype] | None:
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    except Exception:  # noqa: BLE001 - a corrupt header (numpy's safe_eval raises TokenError...): the reader says so
        return None
    return shape, dtype


def check_npy(data: bytes, what: str, *, max_bytes: int = MAX_DECODED_BYTES) -> None:
    """Refuse a ``.npy`` whose header declares more than ``max_bytes`` of data."""
    head = _npy_header(io.BytesIO(data))
    if head is not None:
        shape, dtype = head
        check_elements(what, shape, dtype.itemsize, max_bytes=max_bytes)


def check_npz(data: bytes, what: str, *, max_bytes: int = MAX_DECODED_BYTES, max_members: int = 64) -> None:
    """Refuse an ``.npz`` whose directory declares members past the budget (sizes from the zip directory
    and each member's ``.npy`` header, read through a bounded stream: nothing is inflated whole)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    with zf:
        infos = zf.infolist()
        if len(infos) > max_members:
            raise _too_large(what, f"{len(infos)} arrays", f"{max_members} arrays")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise _too_large(what, f"{total / 2**20:,.0f} MiB of arrays once inflated", f"{max_bytes / 2**20:,.0f} MiB")
        for info in infos:
            try:
                with zf.open(info) as fh:
                    head = _npy_header(fh)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
                continue
            if head is not None:
                check_elements(f"{what} [{info.filename}]", head[0], head[1].itemsize, max_bytes=max_bytes)


_MAT_ITEMSIZE = {"double": 8, "single": 4, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4,
                 "uint32": 4, "int64": 8, "uint64": 8, "logical": 1, "char": 2}


def check_mat(data: bytes, what: str, *, max_bytes: int = MAX_DECODED_BYTES) -> None:
    """Refuse a MATLAB file whose variables declare more than ``max_bytes`` in all (``scipy.io.whosmat``
    reads each variable's header — for compressed variables only the start of its zlib stream)."""
    import scipy.io

    try:
        variables = scipy.io.whosmat(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - not a v4-v7 MAT file or a corrupt header: the reader says so
        return
    total = 0
    for name, shape, cls in variables:
        n = 1
        for d in shape:
            n *= max(int(d), 0)
        size = n * _MAT_ITEMSIZE.get(cls, 8)
        check_elements(f"{what} [{name}]", shape, _MAT_ITEMSIZE.get(cls, 8), max_bytes=max_bytes)
        total += size
    if total > max_bytes:
        raise _too_large(what, f"{total / 2**20:,.0f} MiB in {len(variables)} variables", f"{max_bytes / 2**20:,.0f} MiB")


def check_audio(data: bytes, what: str, *, max_samples: int = MAX_SAMPLES) -> None:
    """Refuse a recording (WAV/FLAC/OGG... anything libsndfile reads) whose header declares more than
    ``max_samples`` frames x channels."""
    try:
        import soundfile as sf

        info = sf.info(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - not audio or corrupt: the reader says so
        return
    n = int(info.frames) * max(int(info.channels), 1)
    if n > max_samples:
        raise _too_large(what, f"{int(info.frames):,} frames x {info.channels} channels",
                         f"{max_samples:,} samples")


def check_text(data: bytes, what: str, *, max_lines: int = MAX_TEXT_LINES, max_field: int = 1_000_000) -> None:
    """Refuse a text table with more than ``max_lines`` lines, or one line longer than ``max_field``
    characters (a quoted field the csv module would otherwise reject with its own error)."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines > max_lines:
        raise _too_large(what, f"{lines:,} lines", f"{max_lines:,} lines", verb="has")
    # the longest line from the newline positions (one vectorised pass; a regex scan of a 9 MB table took ~0.1 s)
    nl = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 0x0A)
    longest = int(np.diff(nl, prepend=-1, append=len(data)).max()) - 1
    if longest > max_field:
        raise _too_large(what, "a line of more than that", f"{max_field:,} characters per line", verb="has")
