"""A viewable picture of the uploaded image (issue 11): what the cover map is laid over on the result page.

True colour when the image has red, green and blue bands, else a false-colour composite
(NIR-red-green: vegetation red, as in every remote-sensing viewer), else the first band in grey.
Each band is stretched between its 2nd and 98th percentile; no-data pixels are transparent.
"""

from __future__ import annotations

import numpy as np

COMPOSITES = (("red", "green", "blue"), ("nir", "red", "green"), ("rededge", "red", "green"))


def preview_rgba(bands: np.ndarray, band_names, *, valid: np.ndarray | None = None, max_side: int = 1024) -> tuple[np.ndarray, str]:
    """``(RGBA uint8 image, description)`` of a (C, H, W) image, at most ``max_side`` pixels per side."""
    names = [str(n).lower() for n in band_names]
    pick, what = None, "first band (grey)"
    for combo in COMPOSITES:
        if all(c in names for c in combo):
            pick = [names.index(c) for c in combo]
            what = "true colour" if combo[0] == "red" else f"false colour ({'-'.join(combo).upper()})"
            break
    if pick is None:
        pick = [0, 0, 0]
    c, h, w = bands.shape
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    img = np.asarray(bands[pick][:, ::step, ::step], dtype=np.float64)
    ok = np.all(np.isfinite(img), axis=0)
    if valid is not None:
        ok &= np.asarray(valid)[::step, ::step]
    out = np.zeros(img.shape[1:] + (4,), np.uint8)
    for i in range(3):
        v = img[i][ok]
        lo, hi = (np.percentile(v, [2, 98]) if v.size else (0.0, 1.0))
        out[..., i] = np.clip(np.nan_to_num((img[i] - lo) / ((hi - lo) or 1.0)) * 255, 0, 255).astype(np.uint8)
    out[..., 3] = np.where(ok, 255, 0)
    return out, what


def preview_png(sample, *, max_pixels: int = 6_000_000) -> tuple[bytes, str] | None:
    """PNG bytes and description of a ``VegImage`` (or a GeoTIFF ``RasterSource`` up to ``max_pixels``,
    the web's map limit); None when the image is too large to load for a preview."""
    from edgeinv.common.errors import EdgeinvError

    from .outputs import encode_png

    if not hasattr(sample, "bands"):  # a GeoTIFF read window by window
        src = sample
        try:
            sample = src.load(max_pixels=max_pixels)
        except EdgeinvError:
            return None
        finally:
            getattr(src, "close", lambda: None)()
    rgba, what = preview_rgba(sample.bands, sample.band_names, valid=getattr(sample, "valid", None))
    return encode_png(rgba), what
