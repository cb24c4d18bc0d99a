"""Classical cover estimates a user would otherwise pick: the NDVI dimidiate pixel model and index + Otsu.

* Dimidiate pixel model: a pixel is a linear mix of bare soil and full vegetation, so
  ``FVC = (VI - VI_soil) / (VI_veg - VI_soil)`` clipped to 0..1 (Gutman & Ignatov 1998, Int. J.
  Remote Sens. 19:1533). The end-members are taken from the image itself, as is common practice:
  the 5th and 95th percentiles of the index. VI is NDVI where the camera has red and NIR; for a
  plain RGB camera the excess green index ExG takes its place (Woebbecke et al. 1995).
* Index + Otsu: the index histogram is split at the threshold that maximises the between-class
  variance (Otsu 1979, IEEE SMC 9:62; OpenCV's implementation on the index quantised to 16 bits)
  and pixels above it count as vegetation (cover 1) -- the usual segmentation approach with ExG
  for RGB and NDVI where NIR exists.

Both return ``{"cover_fraction": (H, W)}``, the model's output layout without the batch axis.
"""

from __future__ import annotations

import numpy as np

from .features import vegetation_index

PERCENTILES = (5.0, 95.0)


def _index(sample) -> tuple[np.ndarray, np.ndarray]:
    img = sample.load()
    vi, _ = vegetation_index(img.bands, img.band_names)
    valid = np.ones(vi.shape, bool) if img.valid is None else img.valid
    return vi, valid


def dimidiate(vi: np.ndarray, *, valid: np.ndarray | None = None,
              percentiles: tuple[float, float] = PERCENTILES) -> np.ndarray:
    """Dimidiate pixel model with image-percentile end-members; NaN where not valid."""
    valid = np.ones(vi.shape, bool) if valid is None else valid
    if not valid.any():
        return np.full(vi.shape, np.nan, np.float32)
    v_soil, v_veg = np.percentile(vi[valid], percentiles)
    span = max(float(v_veg - v_soil), 1e-6)
    fvc = np.clip((vi - v_soil) / span, 0.0, 1.0)
    return np.where(valid, fvc, np.nan).astype(np.float32)


def otsu_threshold(vi: np.ndarray, *, valid: np.ndarray | None = None) -> float:
    """Otsu's threshold of an index image (computed by OpenCV on 16-bit quantised values)."""
    import cv2

    valid = np.ones(vi.shape, bool) if valid is None else valid
    v = vi[valid].astype(np.float64)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-9:
        return hi
    q = np.round((v - lo) / (hi - lo) * 65535).astype(np.uint16).reshape(1, -1)
    t, _ = cv2.threshold(q, 0, 65535, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return lo + float(t) / 65535 * (hi - lo)


def otsu(vi: np.ndarray, *, valid: np.ndarray | None = None) -> np.ndarray:
    """Binary cover (1 above Otsu's threshold of the index, 0 below); NaN where not valid."""
    valid = np.ones(vi.shape, bool) if valid is None else valid
    if not valid.any():
        return np.full(vi.shape, np.nan, np.float32)
    t = otsu_threshold(vi, valid=valid)
    return np.where(valid, (vi > t).astype(np.float32), np.nan).astype(np.float32)


def dimidiate_cover(sample) -> dict[str, np.ndarray]:
    """The dimidiate baseline for a sample, in the model's output layout."""
    vi, valid = _index(sample)
    return {"cover_fraction": dimidiate(vi, valid=valid)}


def otsu_cover(sample) -> dict[str, np.ndarray]:
    """The index + Otsu baseline for a sample, in the model's output layout."""
    vi, valid = _index(sample)
    return {"cover_fraction": otsu(vi, valid=valid)}


METHODS = {"dimidiate": dimidiate_cover, "otsu": otsu_cover}
