"""Readers for UAV imagery: GeoTIFF orthomosaics (rasterio, read window by window) and JPEG/PNG frames.

Two sample types share one small interface (``height``, ``width``, ``band_names``, ``transform``,
``crs``, ``read_window``): :class:`VegImage` holds a frame in memory, :class:`RasterSource` keeps a
GeoTIFF open and reads only the windows asked for, so an orthomosaic of any size streams.

Band roles (``blue, green, red, rededge, nir``; ``ignore`` skips a band) come from ``--bands``,
else from the GeoTIFF band descriptions or colour interpretation, else (frames) R,G,B: the order an
image viewer shows, which is the order ``--bands`` describes. JPEGs are decoded by Pillow (libjpeg-turbo,
EXIF orientation applied), PNGs by GDAL through rasterio (8 and 16 bit, palettes and alpha); both give
the pixels OpenCV gave before, bit for bit (``tests/apps/veg_cover/test_io_decode.py``), without OpenCV's
~14 MB in the serving process (issue 13). Values are brought to one scale: reflectance (0..1) for calibrated
multispectral data, DN / full scale (0..1) for 8/16-bit camera images; GDAL scale/offset tags apply.
"""

from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeinv.common.errors import (InvalidInputError, MissingMetadataError, PayloadTooLargeError,
                                   UnsupportedFormatError, check_finite)

from .cameras import ACCEPTED_ROLES, config_for_roles, normalise_role

# Frames decode whole (uint8 + float32 bands + the cover map): ~25 bytes a pixel, so 24 MP (a 20 MP drone
# frame with margin) stays within the service's 512 MB; larger ones are refused from the header before
# decoding (a 1.5 KB JPEG declaring 7745 x 7745 px used to hang the decoder). GeoTIFFs stream instead.
MAX_FRAME_PIXELS = 24_000_000
FULL_SCALE = {"uint8": 255.0, "uint16": 65535.0, "int16": 32767.0, "uint32": 4294967295.0}


@dataclass
class VegImage:
    """An image in memory. ``bands``: (C, H, W) float32 on the common scale, roles in ``band_names``."""

    bands: np.ndarray
    band_names: tuple[str, ...]
    source: str = "image"
    transform: object = None  # affine.Affine when georeferenced
    crs: object = None        # rasterio CRS when georeferenced
    valid: np.ndarray | None = None  # (H, W) bool, False where the file says "no data"
    truth: np.ndarray | None = None  # simulated ground-truth cover (H, W)
    camera: str | None = None        # camera config this image came from, if known
    gsd_m: float | None = None
    options: dict = field(default_factory=dict)  # processing options from the CLI/API (out path, zones)
    levels: object = None  # radiometry.Levels of the segmentation path, once computed
    meta: dict = field(default_factory=dict)     # simulation parameters, file tags
    derived: dict = field(default_factory=dict)  # per-image results computed once (pure levels, interior share)

    @property
    def height(self) -> int:
        return int(self.bands.shape[1])

    @property
    def width(self) -> int:
        return int(self.bands.shape[2])

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and self.transform is not None

    def read_window(self, row: int, col: int, height: int, width: int):
        """Bands (C, h, w) and validity (h, w) of a window inside the image."""
        sl = (slice(row, row + height), slice(col, col + width))
        valid = np.ones((height, width), bool) if self.valid is None else self.valid[sl]
        return self.bands[(slice(None), *sl)], valid

    def load(self) -> "VegImage":
        return self


class RasterSource:
    """A GeoTIFF opened with rasterio and read window by window (the whole raster is never loaded)."""

    def __init__(self, dataset, *, roles: tuple[str, ...], source: str, scale: float, memfile=None,
                 options: dict | None = None, camera: str | None = None):
        self._ds, self._memfile = dataset, memfile
        self.band_names = tuple(r for r in roles if r != "ignore")
        self._indexes = [i + 1 for i, r in enumerate(roles) if r != "ignore"]
        self.source, self.options, self.camera, self.meta = source, dict(options or {}), camera, {}
        self.derived: dict = {}  # per-image results computed once (as VegImage.derived)
        self.transform = dataset.transform
        self.crs = dataset.crs
        self.height, self.width = int(dataset.height), int(dataset.width)
        scales = np.array([dataset.scales[i - 1] for i in self._indexes], np.float64)
        offsets = np.array([dataset.offsets[i - 1] for i in self._indexes], np.float64)
        self._gain = (scales / scale).astype(np.float32)[:, None, None]
        self._offset = (offsets / scale).astype(np.float32)[:, None, None]
        self._has_offset = bool(np.any(self._offset != 0))
        self._nodata = dataset.nodata
        # integer samples under a finite gain/offset cannot become NaN/inf: no per-window check needed
        dt = np.dtype(dataset.dtypes[self._indexes[0] - 1]) if self._indexes else np.dtype("float32")
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowing scale gives inf: checked per window
            bound = float(np.max(np.abs(self._gain).astype(np.float64)) * max(abs(float(np.iinfo(dt).min)),
                                                                              float(np.iinfo(dt).max))
                          + np.max(np.abs(self._offset))) if (np.issubdtype(dt, np.integer) and self._indexes) \
                else np.inf
        self._always_finite = bool(np.isfinite(bound) and bound < 1e37
                                   and all(np.dtype(d) == dt for d in dataset.dtypes))
        self.truth = None
        bh, bw = dataset.block_shapes[0]
        self.block_px = int(bh) if (bh == bw and bh < self.height) else None  # square tiles: process by block
        # bytes GDAL caches per block position (a pixel-interleaved block holds every band)
        self.block_bytes = (int(bh) * int(bw) * dataset.count * np.dtype(dataset.dtypes[0]).itemsize
                            if self.block_px else None)
        # an alpha band or an internal mask (orthomosaics mark the area outside the field this way)
        from rasterio.enums import MaskFlags

        flags = dataset.mask_flag_enums[self._indexes[0] - 1]
        self._use_mask = MaskFlags.alpha in flags or MaskFlags.per_dataset in flags
        res = abs(self.transform.a) if self.transform is not None else None
        self.gsd_m = _metres_per_unit(self.crs, self.transform, self.height) * res if self.georeferenced else None

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and not self.transform.is_identity

    @property
    def dtype(self) -> str:
        return self._ds.dtypes[0]

    def read_window(self, row: int, col: int, height: int, width: int):
        """Bands (C, h, w) float32 on the common scale, and validity (h, w), of one window."""
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        try:
            raw = self._ds.read(self._indexes, window=Window(col, row, width, height))
        except RasterioError as exc:
            raise InvalidInputError(f"{self.source}: the GeoTIFF is truncated or corrupt ({exc})") from None
        valid = np.ones((height, width), bool)
        if self._use_mask:
            valid &= self._ds.read_masks(self._indexes[0], window=Window(col, row, width, height)) > 0
        if self._nodata is not None:
            nod = np.isnan(raw) if np.isnan(self._nodata) else raw == self._nodata
            valid &= ~nod.any(axis=0)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are found and refused just below
            # one pass (cast and scale together, same bits as astype then *=); no pass for a zero offset
            bands = np.multiply(raw, self._gain, dtype=np.float32)
            if self._has_offset:
                bands += self._offset
        if not self._always_finite:
            bad = ~np.isfinite(bands) & valid[None]
            if bad.any():
                raise InvalidInputError(f"{self.source}: {int(bad.sum())} NaN or infinite value(s) near row {row}, "
                                        f"col {col} (declare a nodata value if they mark missing data)")
        if not valid.all():
            bands[:, ~valid] = 0.0
        return bands, valid

    def load(self, *, max_pixels: int = MAX_FRAME_PIXELS) -> VegImage:
        """The whole raster in memory (only for rasters small enough; predict streams instead)."""
        if self.height * self.width > max_pixels:
            raise PayloadTooLargeError(f"{self.source}: {self.width} x {self.height} px is too large to load at once",
                                       hint="use predict, which processes it window by window")
        bands, valid = self.read_window(0, 0, self.height, self.width)
        return VegImage(bands=bands, band_names=self.band_names, source=self.source, transform=self.transform,
                        crs=self.crs, valid=valid, camera=self.camera, gsd_m=self.gsd_m, options=self.options,
                        meta=dict(self.meta))

    def close(self) -> None:
        self._ds.close()
        if self._memfile is not None:
            self._memfile.close()

    def __getstate__(self) -> dict:
        """Pickles as "reopen this file" (Dask workers of a split predict, ``edgeinv.common.dask_windows``)."""
        if self._memfile is not None:
            raise TypeError(f"{self.source} was uploaded, not read from a file path; other processes cannot open it")
        return {**self.__dict__, "_ds": self._ds.name}

    def __setstate__(self, state: dict) -> None:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            self.__dict__.update(state, _ds=rasterio.open(state["_ds"]))


def _metres_per_unit(crs, transform, height) -> float:
    """Metres per CRS unit (1 for projected metric CRSs; ~111 km/deg x cos(lat) for geographic ones)."""
    if crs is None:
        return 1.0
    if crs.is_geographic:
        lat = transform.f + transform.e * height / 2
        return 111_320.0 * float(np.cos(np.deg2rad(lat)))
    try:
        return float(crs.linear_units_factor[1])
    except Exception:  # noqa: BLE001 - CRS without linear units: assume metres
        return 1.0


def parse_bands(spec: str | None) -> tuple[str, ...] | None:
    """``"red,nir"`` -> ``("red", "nir")``; InvalidInputError naming the accepted roles otherwise."""
    if spec is None or spec == "":
        return None
    names = tuple(s.strip() for s in str(spec).split(",") if s.strip())
    roles = []
    for n in names:
        r = normalise_role(n)
        if r is None:
            raise InvalidInputError(f"unknown band name {n!r} in --bands; use {', '.join(ACCEPTED_ROLES)}")
        roles.append(r)
    return _check_roles(tuple(roles), "--bands")


def _check_roles(roles: tuple[str, ...], where: str) -> tuple[str, ...]:
    used = [r for r in roles if r != "ignore"]
    dup = sorted({r for r in used if used.count(r) > 1})
    if dup:
        raise InvalidInputError(f"{where}: band role(s) {', '.join(dup)} given more than once")
    if config_for_roles(used) is None:
        raise InvalidInputError(f"{where}: bands {', '.join(used) or 'none'} are not enough; a model needs "
                                f"red+nir, red+green+blue, or blue,green,red,rededge,nir")
    return roles


def _sniff(data: bytes) -> str:
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    return "unknown"


def frame_size(data: bytes, kind: str) -> tuple[int, int]:
    """(width, height) from a PNG or JPEG header, without decoding the pixels (:mod:`edgeinv.common.limits`)."""
    from edgeinv.common.limits import image_size

    size = image_size(data) if kind in ("png", "jpeg") else None
    if size is None:
        raise InvalidInputError(f"the {kind.upper()} header is truncated or corrupt")
    return size[0], size[1]


def _decode_jpeg(data: bytes, source: str) -> np.ndarray:
    """(H, W, C) uint8 of a JPEG, upright (EXIF orientation applied), grey or R, G, B."""
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            return np.asarray(im)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise InvalidInputError(f"{source}: the JPEG image is truncated or corrupt ({exc})") from None


def _decode_png(data: bytes, source: str) -> np.ndarray:
    """(H, W, C) uint8/uint16 of a PNG as stored: grey, R, G, B or R, G, B, A (palettes and grey + alpha
    expanded, 1/2/4-bit grey scaled to 0..255, as OpenCV's ``IMREAD_UNCHANGED`` does)."""
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.io import MemoryFile

    try:
        with warnings.catch_warnings(), MemoryFile(data) as mf:
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with mf.open(driver="PNG") as ds:
                img = np.moveaxis(ds.read(), 0, 2)
                interp = [c.name for c in ds.colorinterp]
                nbits = int(ds.tags(1, ns="IMAGE_STRUCTURE").get("NBITS", 8 * img.itemsize))
                cmap = ds.colormap(1) if interp[0] == "palette" else None
    except (RasterioError, ValueError) as exc:
        raise InvalidInputError(f"{source}: the PNG image is truncated or corrupt ({exc})") from None
    if cmap is not None:
        lut = np.zeros((256, 4), np.uint8)
        for k, rgba in cmap.items():
            if 0 <= k < 256:
                lut[k] = rgba
        has_alpha = bool((lut[np.unique(img), 3] < 255).any())
        img = lut[img[:, :, 0]][:, :, :4 if has_alpha else 3]
    elif nbits < 8 * img.itemsize:
        img = (img * (255 // (2 ** nbits - 1))).astype(np.uint8)
    if img.shape[2] == 2:  # grey + alpha
        img = img[:, :, [0, 0, 0, 1]]
    return img


def read_frame(data: bytes, *, kind: str, source: str, roles: tuple[str, ...] | None,
               max_pixels: int = MAX_FRAME_PIXELS) -> VegImage:
    """Decode a JPEG/PNG frame into a VegImage (values / full scale)."""
    w, h = frame_size(data, kind)
    if w * h > max_pixels:
        raise PayloadTooLargeError(f"{source}: frame of {w} x {h} px exceeds the limit of {max_pixels} px",
                                   hint="tile it, or save it as a GeoTIFF, which is processed window by window")
    if kind == "png" and data.rfind(b"IEND") < 0:  # cut off: refuse before libpng prints its own errors
        raise InvalidInputError(f"{source}: the PNG image is truncated or corrupt (no IEND chunk)")
    img = _decode_jpeg(data, source) if kind == "jpeg" else _decode_png(data, source)
    if img.size == 0:
        raise InvalidInputError(f"{source}: the {kind.upper()} image is truncated or corrupt")
    notes = {}
    if kind == "jpeg":
        orientation = exif_orientation(data)
        if orientation not in (None, 1):
            notes["exif_orientation"] = orientation  # already applied by the decoder
    if img.ndim == 2:
        img = img[:, :, None]
    full = FULL_SCALE.get(str(img.dtype), 1.0)
    n = img.shape[2]
    if roles is None:
        if n < 3:
            raise MissingMetadataError(f"{source}: a {n}-channel frame needs --bands (e.g. red,nir)", field="bands")
        roles = _frame_roles(img, source, notes)
    if len(roles) != n:
        raise InvalidInputError(f"{source}: the frame has {n} channel(s) but --bands lists {len(roles)}")
    keep = [i for i, r in enumerate(roles) if r != "ignore"]
    check_finite(source, img)  # integer samples (every decoder's) are finite: no pass over them
    # (C, H, W) float32 in one pass: cast and divide as astype(float32) / float32(full) does, the same bits, into a
    # C-contiguous array (a 20 MP frame took three 240 MB passes: a transposed copy, the cast and the division)
    src = np.moveaxis(img, 2, 0)
    bands = np.empty((len(keep),) + img.shape[:2], np.float32)
    run = bool(keep) and keep == list(range(keep[0], keep[0] + len(keep)))  # R, G, B (of RGB or RGBA): a view
    np.divide(src[keep[0]:keep[0] + len(keep)] if run else src[keep], np.float32(full), out=bands, dtype=np.float32)
    valid = img[:, :, 3] > 0 if (n == 4 and roles[3] == "ignore") else None  # RGBA: transparent = no data
    meta = {"radiometry": "dn", "bit_depth": int(np.dtype(img.dtype).itemsize * 8), **notes}
    return VegImage(bands=bands, band_names=tuple(roles[i] for i in keep), source=source, valid=valid, meta=meta)


def _frame_roles(img: np.ndarray, source: str, notes: dict) -> tuple[str, ...]:
    """Band roles of a frame without ``--bands``: R,G,B, unless two colour channels are copies of each other.

    A three-channel frame whose first and third channels are identical is a two-band false-colour
    image stored as RGB (dual-band NDVI cameras such as the JAI AD-130GE of the CWFID data set
    write red into R and B and near-infrared into G): read as R = red, G = NIR. Identical R, G and B
    is a grey image (read as RGB and noted: it carries no colour to tell vegetation from soil).
    """
    n = img.shape[2]
    if n in (3, 4):
        step = max(1, int(np.sqrt(img.shape[0] * img.shape[1] / 250_000)))  # a sample of rows/cols is enough
        sub = img[::step, ::step]
        rb = np.array_equal(sub[:, :, 0], sub[:, :, 2])
        rg = np.array_equal(sub[:, :, 0], sub[:, :, 1])
        if rb and rg and np.array_equal(img[:, :, 0], img[:, :, 1]) and np.array_equal(img[:, :, 0], img[:, :, 2]):
            notes["band_mapping"] = "grey frame (R = G = B): no colour to tell vegetation from soil"
            return ("red", "green", "blue") + ("ignore",) * (n - 3)
        if rb and not rg and np.array_equal(img[:, :, 0], img[:, :, 2]):
            notes["band_mapping"] = "R = B (duplicated): read as R = red, G = near-infrared (pass --bands to override)"
            return ("red", "nir", "ignore") + ("ignore",) * (n - 3)
    return ("red", "green", "blue") + ("ignore",) * (n - 3)


def exif_orientation(data: bytes) -> int | None:
    """The EXIF orientation tag (0x0112) of a JPEG, or None (parsed from the APP1 segment, no decoding)."""
    try:
        i = 2
        while i + 4 <= len(data) and data[i] == 0xFF:
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker == 0xE1 and data[i + 4:i + 10] == b"Exif\x00\x00":
                tiff = data[i + 10:i + 2 + length]
                endian = "<" if tiff[:2] == b"II" else ">"
                ifd = struct.unpack(endian + "I", tiff[4:8])[0]
                count = struct.unpack(endian + "H", tiff[ifd:ifd + 2])[0]
                for k in range(count):
                    e = ifd + 2 + 12 * k
                    if struct.unpack(endian + "H", tiff[e:e + 2])[0] == 0x0112:
                        return int(struct.unpack(endian + "H", tiff[e + 8:e + 10])[0])
                return None
            if marker in (0xDA, 0xD9):
                return None
            i += 2 + length
    except (struct.error, IndexError):
        return None
    return None


def _roles_from_dataset(ds, source: str) -> tuple[str, ...]:
    descs = [d for d in ds.descriptions]
    if all(d for d in descs):
        roles = tuple(normalise_role(d) for d in descs)
        if None in roles:
            unknown = [d for d, r in zip(descs, roles) if r is None]
            raise InvalidInputError(f"{source}: unknown band description(s) {', '.join(map(repr, unknown))}; "
                                    f"pass --bands with one of {', '.join(ACCEPTED_ROLES)} per band")
        return _check_roles(roles, f"{source} band descriptions")
    interp = [ci.name for ci in ds.colorinterp]
    mapped = tuple({"red": "red", "green": "green", "blue": "blue", "alpha": "ignore", "rededge": "rededge",
                    "nir": "nir"}.get(n) for n in interp)
    if None not in mapped:
        return _check_roles(mapped, f"{source} colour interpretation")
    raise MissingMetadataError(f"{source}: the GeoTIFF does not say which band is which",
                               hint=f"pass --bands with {ds.count} names, e.g. red,nir or blue,green,red,rededge,nir", field="bands")


def open_geotiff(src, *, source: str, roles: tuple[str, ...] | None, reflectance_scale: float | None = None,
                 options: dict | None = None) -> RasterSource:
    """Open a GeoTIFF (path or bytes) for windowed reading; checks bands, scale and the first/last blocks."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioError
    from rasterio.io import MemoryFile

    memfile = None
    try:
        with warnings.catch_warnings():  # frames saved as TIFF carry no geotransform: that is allowed
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            if isinstance(src, (bytes, bytearray)):
                memfile = MemoryFile(bytes(src))
                ds = memfile.open()
            else:
                ds = rasterio.open(src)
    except RasterioError as exc:
        if memfile is not None:
            memfile.close()
        raise InvalidInputError(f"{source}: not a readable GeoTIFF ({exc})") from None
    try:
        if ds.width < 1 or ds.height < 1 or ds.count < 1:
            raise InvalidInputError(f"{source}: the raster is empty")
        if roles is None:
            roles = _roles_from_dataset(ds, source)
        elif len(roles) != ds.count:
            raise InvalidInputError(f"{source}: the GeoTIFF has {ds.count} band(s) but --bands lists {len(roles)}")
        dtype = ds.dtypes[0]
        if dtype.startswith("complex"):
            raise UnsupportedFormatError(f"{source}: complex-valued rasters are not imagery")
        tagged = any(v != 1.0 for v in ds.scales) or any(v != 0.0 for v in ds.offsets)
        # GDAL scale/offset tags already give physical values; otherwise the type's full scale is 1.0
        scale = float(reflectance_scale) if reflectance_scale else (1.0 if tagged else FULL_SCALE.get(dtype, 1.0))
        rs = RasterSource(ds, roles=roles, source=source, scale=scale, memfile=memfile, options=options)
        # calibrated reflectance: float data, GDAL scale/offset tags, or a scale the user gave; else raw counts
        rs.meta["radiometry"] = ("reflectance" if (reflectance_scale or tagged or dtype.startswith("float"))
                                 else "dn")
        for r, c in ((0, 0), (rs.height - 1, rs.width - 1)):  # a truncated file fails here, not mid-run
            bands, valid = rs.read_window(r, c, 1, 1)
        first, valid = rs.read_window(0, 0, min(rs.height, 256), min(rs.width, 256))
        if valid.any() and float(np.percentile(first[:, valid], 99)) > 4.0:
            raise InvalidInputError(f"{source}: values up to {float(first.max()):.4g} do not look like reflectance "
                                    f"or scaled DN", hint="pass --reflectance-scale (the value that means 1.0)")
        return rs
    except Exception:
        ds.close()
        if memfile is not None:
            memfile.close()
        raise


def read_image(src: str | Path | bytes, *, filename: str | None = None, bands: str | None = None,
               reflectance_scale: float | None = None, max_pixels: int | None = None,
               options: dict | None = None):
    """Read a GeoTIFF (-> RasterSource) or a JPEG/PNG frame (-> VegImage) from a path or bytes."""
    roles = parse_bands(bands)
    if isinstance(src, (str, Path)):
        path = Path(src)
        source = filename or path.name
        if not path.is_file():
            raise InvalidInputError(f"no such file: {path}")
        with open(path, "rb") as fh:
            head = fh.read(16)
        if path.stat().st_size == 0:
            raise InvalidInputError(f"{source} is empty")
        kind = _sniff(head)
        if kind == "tiff":
            return open_geotiff(str(path), source=source, roles=roles, reflectance_scale=reflectance_scale,
                                options=options)
        data = path.read_bytes() if kind in ("png", "jpeg") else b""
    else:
        data, source = bytes(src), filename or "upload"
        if not data:
            raise InvalidInputError(f"{source} is empty")
        kind = _sniff(data)
        if kind == "tiff":
            return open_geotiff(data, source=source, roles=roles, reflectance_scale=reflectance_scale,
                                options=options)
    if kind == "unknown":
        raise UnsupportedFormatError(f"{source}: not a GeoTIFF, PNG or JPEG image")
    img = read_frame(data, kind=kind, source=source, roles=roles, max_pixels=max_pixels or MAX_FRAME_PIXELS)
    img.options = dict(options or {})
    return img
