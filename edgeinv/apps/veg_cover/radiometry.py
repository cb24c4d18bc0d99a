"""Per-image radiometric normalisation: soil and vegetation levels from the image's own clusters (edge side, numpy).

Real frames are mostly uncalibrated camera counts (DN), not reflectance: an unknown gain and offset
per band (exposure, white balance, filter leakage such as NIR in a "red" channel). Whatever they
are, the image itself holds two reference materials, bare background and green vegetation. This
module finds them and maps every band so that the background cluster sits at 0 and the vegetation
cluster at 1, which makes the model input invariant to any per-band gain and offset.

Steps (:func:`image_levels`):

1. a seed index per pixel: NDVI for red + NIR (Rouse et al. 1974), ``green - max(red, blue)`` for
   RGB -- an excess-green that, unlike the chromatic ExG, does not blow up the noise of dark pixels
   (black soil, shadows) and is near 0 for grey or white backgrounds;
2. a two-class split of the index at the minimum-error threshold (Kittler & Illingworth 1986,
   Pattern Recognit. 19:41: two Gaussians of unequal spread and weight, which -- unlike Otsu's
   between-class variance -- stays right when one class is small, as at 2 % cover);
3. the levels: per band, the median of each class's core (pixels beyond the threshold by a margin),
   not image percentiles, which put the vegetation "end-member" on soil when cover is low;
4. Fisher's linear discriminant of the two classes (pooled within-class covariance): the direction
   in band space that best separates them in *this* image; the model input is the pixel's
   coordinate along it, scaled so the background level is 0 and the vegetation level 1, and its
   Mahalanobis distance off the background-vegetation line (another material). Both are invariant
   to any per-band gain and offset and to linear leakage between bands. The split is refined once
   along the discriminant (more rounds let bright non-soil surfaces such as white crates pull the
   direction towards brightness: on the weedNet tray images the rule "coordinate > 0.45" is within
   0.03 on 9/12 with one round, 4/12 with three);
5. the separation ``d'`` of the two classes along the discriminant (difference of medians over the
   pooled robust spread): small values mean the image has no clear vegetation/background contrast
   and the estimate is flagged as low confidence.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

SAMPLE_PIXELS = 250_000  # levels are estimated on a regular subsample of at most this many pixels
MIN_CLASS = 0.002        # smallest share of the image a class may have (below: no vegetation found)
MIN_SEPARATION = 2.0     # d' below this: the two clusters overlap, low confidence
MIN_GAIN = 0.1           # two classes must lower the minimum-error criterion by this much below one class


@dataclass(frozen=True)
class Levels:
    """Background (``soil``) and vegetation (``veg``) level per band of one image, and how well they separate."""

    bands: tuple[str, ...]
    soil: tuple[float, ...]
    veg: tuple[float, ...]
    index: str
    threshold: float
    separation: float
    veg_share: float   # share of pixels on the vegetation side of the seed split
    found: bool        # False: one class is (nearly) empty; levels fall back to nominal ones
    weights: tuple[float, ...] | None = None  # Fisher direction scaled so soil -> 0, veg -> 1
    cov: tuple[tuple[float, ...], ...] | None = None  # pooled within-class covariance of the bands
    # chromatic discriminant (:func:`chroma`): Fisher direction over the bands' log-ratios to the last band,
    # the background's log-ratios, and the dark-pixel offset ``chroma_eps`` added before the logarithm
    chroma_weights: tuple[float, ...] | None = None
    chroma_soil: tuple[float, ...] | None = None
    chroma_eps: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def seed_index(bands: np.ndarray, band_names) -> tuple[np.ndarray, str]:
    """The index used to seed the clusters: NDVI with red + NIR, else green - max(red, blue)."""
    names = list(band_names)
    if "nir" in names and "red" in names:
        red, nir = bands[names.index("red")], bands[names.index("nir")]
        s = nir + red
        return np.where(s > 1e-6, (nir - red) / np.where(s > 1e-6, s, 1.0), 0.0).astype(np.float32), "ndvi"
    r, g, b = (bands[names.index(k)] for k in ("red", "green", "blue"))
    return (2 * g - r - b).astype(np.float32), "exg_dn"


def min_error_threshold(v: np.ndarray, *, bins: int = 256) -> tuple[float, float]:
    """Kittler-Illingworth minimum-error threshold of the values ``v``; returns (threshold, share above).

    The histogram runs between the 0.1 and 99.9 percentiles (outliers clipped into the end bins).
    When the best two-class fit is hardly better than a single Gaussian (criterion within
    :data:`MIN_GAIN`), there is no second class: returns (the top of the range, 0.0).
    """
    v = np.asarray(v, np.float64)
    lo, hi = np.percentile(v, [0.1, 99.9])
    if not hi - lo > 1e-9:
        return float(hi), 0.0
    h, edges = np.histogram(np.clip(v, lo, hi), bins=bins, range=(lo, hi))
    c = 0.5 * (edges[:-1] + edges[1:])
    p = h / max(h.sum(), 1)
    P = np.cumsum(p)
    M = np.cumsum(p * c)
    S = np.cumsum(p * c * c)
    P2 = 1.0 - P
    q = (edges[1] - edges[0]) ** 2 / 12.0  # a class's variance is at least the histogram's quantisation
    with np.errstate(all="ignore"):
        m1, m2 = M / P, (M[-1] - M) / P2
        v1, v2 = np.maximum(S / P - m1 ** 2, 0.0) + q, np.maximum((S[-1] - S) / P2 - m2 ** 2, 0.0) + q
        j = 1 + P * np.log(v1) + P2 * np.log(v2) - 2 * (P * np.log(P) + P2 * np.log(P2))
    ok = (P > MIN_CLASS) & (P2 > MIN_CLASS) & (v1 > 0) & (v2 > 0) & np.isfinite(j)
    if not ok.any():
        return float(hi), 0.0
    k = int(np.argmin(np.where(ok, j, np.inf)))
    t = float(c[k])
    # one Gaussian explains the histogram about as well as two: no second class (bare soil, closed canopy)
    var_all = max(S[-1] - M[-1] ** 2, 0.0) + q
    if j[k] > 1 + np.log(var_all) - MIN_GAIN:
        return float(hi), 0.0
    return t, float(np.mean(v > t))


def _subsample(bands: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    """(C, N) pixels of a regular subsample of the valid area."""
    c, h, w = bands.shape
    step = max(1, int(np.sqrt(h * w / SAMPLE_PIXELS)))
    sub = bands[:, ::step, ::step].reshape(c, -1)
    if valid is not None:
        sub = sub[:, valid[::step, ::step].ravel()]
    return sub


def image_levels(bands: np.ndarray, band_names, valid: np.ndarray | None = None, *, iterations: int = 1) -> Levels:
    """Background and vegetation levels per band from the image's two clusters (see the module docstring).

    After the seed split, the split is refined ``iterations`` times with Fisher's linear discriminant
    of the two clusters (pooled within-class covariance): the direction in band space that best
    separates them in this image, invariant to any per-band gain and offset (and to linear leakage
    between bands); each time the classes are re-split at the minimum-error threshold along it.
    """
    names = tuple(band_names)
    px = _subsample(np.asarray(bands, np.float32), valid).astype(np.float64)
    if px.shape[1] < 16:
        return _nominal(names, found=False)
    idx, name = seed_index(px[:, None, :], names)
    idx = idx[0].astype(np.float64)
    t, share = min_error_threshold(idx)
    coord = idx
    weights = pooled = None
    for _ in range(int(iterations) + 1):
        lo, hi = coord < t, coord > t
        if share < MIN_CLASS or share > 1 - MIN_CLASS or lo.sum() < 8 or hi.sum() < 8:
            lv = _nominal(names, found=False)
            return Levels(bands=names, soil=lv.soil, veg=lv.veg, index=name, threshold=float(t), separation=0.0,
                          veg_share=share, found=False)
        a, b = coord[lo], coord[hi]
        a_core = lo & (coord <= np.median(a))  # class cores: the half of each class away from the threshold
        b_core = hi & (coord >= np.median(b))
        soil = np.median(px[:, a_core], axis=1)
        veg = np.median(px[:, b_core], axis=1)
        spread = np.sqrt(0.5 * (_robust_sd(a) ** 2 + _robust_sd(b) ** 2))
        sep = float((np.median(b) - np.median(a)) / max(spread, 1e-9))
        if weights is not None and _ == iterations:
            break
        cov = (np.atleast_2d(np.cov(px[:, lo])) * lo.sum() + np.atleast_2d(np.cov(px[:, hi])) * hi.sum()) / lo.size
        cov += np.eye(len(names)) * 1e-6 * max(float(np.trace(cov)), 1e-12)
        w = np.linalg.solve(cov, veg - soil)
        if not np.isfinite(w).all() or abs(float(w @ (veg - soil))) < 1e-12:
            break
        weights = w / float(w @ (veg - soil))  # veg level -> 1, soil level -> 0
        pooled = cov
        coord = weights @ (px - soil[:, None])
        t, share = min_error_threshold(coord)
    cw, cs, eps = _chroma_levels(px, coord > t, soil, veg)
    return Levels(bands=names, soil=tuple(float(v) for v in soil), veg=tuple(float(v) for v in veg), index=name,
                  threshold=float(t), separation=sep, veg_share=share, found=True,
                  weights=None if weights is None else tuple(float(v) for v in weights),
                  cov=None if weights is None else tuple(tuple(float(v) for v in row) for row in pooled),
                  chroma_weights=cw, chroma_soil=cs, chroma_eps=eps)


CHROMA_EPS = 0.05  # dark-pixel offset before the logarithm, as a share of the image's mean level
CHROMA_ROUNDS = 2  # fits of the chromatic direction: on the bands' split, then on its own re-split


def _log_ratios(x: np.ndarray, eps: float) -> np.ndarray:
    """(C-1, ...) log-ratios of each band to the last one, ``log((x_i + eps) / (x_last + eps))``.

    The logarithm is taken per pixel, or for an 8-bit frame's values read from a table of it over the 256 codes (the
    same bits; half of the segmentation path's features on a 20 MP RGB frame, issue 13, stop 31)."""
    codes = _codes_of(x)
    if codes is not None:
        lx = _log_table(float(eps)).take(codes)
    else:
        lx = np.log(np.maximum(np.asarray(x, np.float64), 0.0) + eps)
    return lx[:-1] - lx[-1:]


_CODE_VALUES = np.arange(256, dtype=np.float32) / np.float32(255)  # an 8-bit frame's values (io.read_frame)
_CODE_VALUES.flags.writeable = False


def _codes_of(v: np.ndarray) -> np.ndarray | None:
    """The 8-bit codes (uint8) of ``v`` when every value of it is one of :data:`_CODE_VALUES` (in ``v``'s dtype);
    None otherwise (reflectance, 16-bit counts). A function of those values can then be read from a 256-entry table
    of it (:func:`linear_counts`, :func:`_log_ratios`): the same bits, at the cost of a few comparisons."""
    v = np.asarray(v)
    if v.dtype not in (np.float32, np.float64) or not v.size:
        return None
    with np.errstate(invalid="ignore", over="ignore"):  # values beyond 0..1 wrap or overflow: the check refuses them
        codes = np.rint(v * v.dtype.type(255)).astype(np.uint8)
    return codes if np.array_equal(np.divide(codes, np.float32(255), dtype=np.float32), v) else None


@functools.lru_cache(maxsize=8)  # one eps per image
def _log_table(eps: float) -> np.ndarray:
    """:func:`_log_ratios`' logarithm of each 8-bit value (float64, read-only)."""
    t = np.log(np.maximum(np.asarray(_CODE_VALUES, np.float64), 0.0) + eps)
    t.flags.writeable = False
    return t


def _chroma_levels(px: np.ndarray, veg_side: np.ndarray, soil: np.ndarray, veg: np.ndarray):
    """Fisher direction of the two classes in log-ratio (chromaticity) space, scaled soil -> 0, veg -> 1;
    the classes are re-split once along it at the minimum-error threshold and the direction refitted.

    Log-ratios between bands do not change when the light on a pixel does (a shaded leaf, a leaf turned
    away from the sun, an under-exposed frame): unlike the coordinate along the bands themselves, a
    shaded leaf keeps its vegetation coordinate here. A per-band gain shifts every log-ratio by a
    constant, which the background level removes. ``eps`` (a share of the image's mean level, so global
    gain does not change it) keeps near-black pixels from dominating with noise.
    Returns ``(weights, background log-ratios, eps)``, or Nones with fewer than two bands / a degenerate split.
    """
    if px.shape[0] < 2:
        return None, None, None
    eps = CHROMA_EPS * max(float(np.mean(np.concatenate([soil, veg]))), 1e-6)
    y = _log_ratios(px, eps)
    fit = None
    for _ in range(CHROMA_ROUNDS):  # the split of the bands, then re-split along the chromatic coordinate itself
        lo, hi = ~veg_side, veg_side
        if lo.sum() < 8 or hi.sum() < 8:
            break
        ys, yv = np.median(y[:, lo], axis=1), np.median(y[:, hi], axis=1)
        cov = (np.atleast_2d(np.cov(y[:, lo])) * lo.sum() + np.atleast_2d(np.cov(y[:, hi])) * hi.sum()) / lo.size
        cov += np.eye(y.shape[0]) * 1e-4 * max(float(np.trace(cov)), 1e-12)
        w = np.linalg.solve(cov, yv - ys)
        norm = float(w @ (yv - ys))
        if not np.isfinite(w).all() or abs(norm) < 1e-12:
            break
        fit = (w / norm, ys)
        # shaded leaves that the bands' split left with the background move to the vegetation here; the
        # re-split may only add to the vegetation class (at most half of it, a third of the background),
        # never redefine it: along the chromatic axis a tray, a tinted plastic or noisy black soil can
        # form a cluster of its own
        c = fit[0] @ (y - ys[:, None])
        t, share = min_error_threshold(c)
        new = c > t
        added = (new & lo).sum()
        if not (MIN_CLASS < share < 1 - MIN_CLASS and (new & hi).sum() >= 0.95 * hi.sum()
                and added <= 0.5 * hi.sum() and added <= 0.3 * lo.sum()):
            break
        veg_side = new
    if fit is None:
        return None, None, None
    return tuple(float(v) for v in fit[0]), tuple(float(v) for v in fit[1]), float(eps)


def chroma(bands: np.ndarray, levels: Levels) -> np.ndarray:
    """Per pixel, the image's chromatic coordinate: 0 at the background's colour, 1 at the vegetation's.

    Invariant to the light a pixel receives (shade, exposure) and to per-band gain; zeros when the image
    has no chromatic discriminant (one band, no clusters).
    """
    if levels.chroma_weights is None:
        return np.zeros(bands.shape[1:], np.float32)
    y = _log_ratios(bands, levels.chroma_eps)
    w = np.asarray(levels.chroma_weights, np.float64)
    ys = np.asarray(levels.chroma_soil, np.float64).reshape(-1, *([1] * (y.ndim - 1)))
    return np.tensordot(w, y - ys, axes=1).astype(np.float32)


def discriminant(bands: np.ndarray, levels: Levels) -> np.ndarray:
    """Per pixel, the image's Fisher coordinate: 0 at the background level, 1 at the vegetation level."""
    soil = np.asarray(levels.soil, np.float32)[:, None, None]
    if levels.weights is None:
        z = normalise(bands, levels)
        return z.mean(axis=0).astype(np.float32)
    w = np.asarray(levels.weights, np.float32)
    return np.tensordot(w, np.asarray(bands, np.float32) - soil, axes=1).astype(np.float32)


def _robust_sd(v: np.ndarray) -> float:
    q1, q3 = np.percentile(v, [25, 75])
    return float((q3 - q1) / 1.349)


def _nominal(names: tuple[str, ...], *, found: bool) -> Levels:
    """Typical levels (soil vs green leaf, DN/255 or reflectance) when the image has no usable vegetation cluster."""
    soil_ref = {"blue": 0.10, "green": 0.13, "red": 0.16, "rededge": 0.20, "nir": 0.24}
    veg_ref = {"blue": 0.05, "green": 0.12, "red": 0.05, "rededge": 0.25, "nir": 0.45}
    return Levels(bands=names, soil=tuple(soil_ref.get(n, 0.15) for n in names),
                  veg=tuple(veg_ref.get(n, 0.3) for n in names), index="", threshold=float("nan"),
                  separation=0.0, veg_share=0.0, found=found)


def normalise(bands: np.ndarray, levels: Levels) -> np.ndarray:
    """Bands mapped so that the background level is 0 and the vegetation level 1 (per band, float32).

    A band where the two levels nearly coincide carries no contrast; it is scaled by the largest
    level difference of the image instead of a vanishing one.
    """
    soil = np.asarray(levels.soil, np.float32)[:, None, None]
    veg = np.asarray(levels.veg, np.float32)[:, None, None]
    d = veg - soil
    floor = 0.1 * float(np.max(np.abs(d))) if np.any(d) else 1.0
    d = np.where(np.abs(d) < floor, np.where(d < 0, -floor, floor), d)
    return ((np.asarray(bands, np.float32) - soil) / d).astype(np.float32)


def sample_pixels(sample, *, max_pixels: int = SAMPLE_PIXELS * 4) -> tuple[np.ndarray, np.ndarray | None]:
    """Bands (C, h, w) and validity of an image or a decimated view of a large raster, for level estimation.

    In-memory frames are used as they are (the subsample is taken later); a streamed GeoTIFF is read
    through a decimated window (GDAL uses its overviews when present), so memory stays bounded.
    """
    bands = getattr(sample, "bands", None)
    if bands is not None:
        return bands, getattr(sample, "valid", None)
    h, w = sample.height, sample.width
    step = max(1, int(np.ceil(np.sqrt(h * w / max_pixels))))
    if step == 1:
        return sample.read_window(0, 0, h, w)
    rows = []
    valid_rows = []
    tile = max(step, 1024 // step * step)
    for r in range(0, h, tile):
        parts, vparts = [], []
        for c in range(0, w, tile):
            b, v = sample.read_window(r, c, min(tile, h - r), min(tile, w - c))
            parts.append(b[:, ::step, ::step])
            vparts.append(v[::step, ::step])
        rows.append(np.concatenate(parts, axis=2))
        valid_rows.append(np.concatenate(vparts, axis=1))
    return np.concatenate(rows, axis=1), np.concatenate(valid_rows, axis=0)


def native_windows(sample, *, side: int = 256, max_windows: int = 16) -> tuple[np.ndarray, np.ndarray | None]:
    """Bands (C, h, w) and validity at the image's **own** resolution, for :func:`pure_levels` (interior pixels).

    An image of up to ``max_windows`` windows of ``side`` px is used whole. A larger one (a streamed raster or a
    big frame) is read as that many full-resolution windows on a regular grid, tiled into one mosaic with a
    one-pixel invalid seam between them (so no pixel is interior across a seam): a decimated view
    (:func:`sample_pixels`) would be a coarser GSD, whose interiors are less pure than the raster's own (memory:
    ``max_windows x side^2`` pixels).
    """
    h, w = sample.height, sample.width
    if h * w <= max_windows * side * side:
        return sample.read_window(0, 0, h, w)
    n = max(1, int(np.sqrt(max_windows)))
    sh, sw = min(side, h), min(side, w)
    rows = np.linspace(0, h - sh, n).round().astype(int)
    cols = np.linspace(0, w - sw, n).round().astype(int)
    out, valid = None, np.zeros((n * (sh + 1), n * (sw + 1)), bool)
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            b, v = sample.read_window(int(r), int(c), sh, sw)
            if out is None:
                out = np.zeros((b.shape[0], *valid.shape), np.float32)
            y, x = i * (sh + 1), j * (sw + 1)
            out[:, y:y + sh, x:x + sw] = b
            valid[y:y + sh, x:x + sw] = v
    return out, valid


def off_line_distance(bands: np.ndarray, levels: Levels) -> np.ndarray:
    """Per pixel, the Mahalanobis distance (pooled within-class covariance) from the soil-vegetation line.

    Pixels of the two clusters and the mixtures between them lie near 0; a material that is neither
    (a white crate, a red flower, a specular glint) lies far off the line. Zeros if the image has no
    discriminant (a single band set or no clusters).
    """
    if levels.weights is None or levels.cov is None or len(levels.bands) < 2:
        return np.zeros(bands.shape[1:], np.float32)
    soil = np.asarray(levels.soil, np.float64)
    d = np.asarray(levels.veg, np.float64) - soil
    x = np.asarray(bands, np.float64).reshape(len(levels.bands), -1) - soil[:, None]
    t = np.asarray(levels.weights, np.float64) @ x
    r = x - np.outer(d, t)
    icov = np.linalg.pinv(np.asarray(levels.cov, np.float64))
    m = np.sqrt(np.maximum(np.einsum("in,ij,jn->n", r, icov, r), 0.0))
    return m.reshape(bands.shape[1:]).astype(np.float32)


# ---- coarse GSD on camera counts: linear unmixing between the image's *pure* soil and vegetation levels ---------
# Design constants, set on simulated close-range frames area-averaged by k = 1..32 (design seed 300007, 40 frames
# per camera; docs/apps/veg_cover_trials/gsd_linear_unmix.py), before the real GSD sweep was run with them.
PURE_MIN_PX = 3          # fewer interior vegetation pixels than this: no interior level (the purest observed instead)
# fewer interior vegetation pixels than this: the vegetation level is flagged as maybe not pure. Set AFTER the real GSD
# sweep was seen (with 3, 28 of the 42 unflagged real results at 2-8 cm missed, mostly feathery carrot plants whose
# interiors are still part soil; with 20, 4 of 14); on the design seed it costs 163 -> 122 unflagged right answers of
# 410 for 56 -> 43 unflagged misses (docs/apps/veg_cover.md, "Cover at any ground resolution").
PURE_FLAG_PX = 20
FLAT_SPREAD = 0.2        # upper cluster's (q90 - q50) / (q50 - soil) below this: a flat surface, maybe no vegetation
FLAT_INTERIOR = 0.9      # ... or this share of it interior (one large uniform area: a tray, a crate, a second soil)
NO_PURE_RANGE = (0.1, 1.3)  # truth / estimate on design frames without pure vegetation: 5th-95th pct 0.14-1.29
# Without pure vegetation the purest observed level is itself part soil, so the true level lies beyond it: it is
# raised so that the cover shrinks by this factor, the median truth / estimate of the design frames with fewer than
# PURE_FLAG_PX interior vegetation pixels (0.77 over 142; within 0.03: 101 -> 111). Added after the real sweep was
# seen (its such results were +0.04 to +0.08 too high), the factor from the design seed only.
NO_PURE_RATIO = 0.77
# the upper cluster's purest pixels no greener (RGB) / NIR-brighter (red+NIR) than the background's by at least this
# (:func:`greenness`, log band ratios): it may be a tray, crate, cloth or second soil, not vegetation. Set AFTER both
# the design seed's figures (its two such unflagged misses at -0.47 and -0.01; 3 results within 0.03 at -0.45) and the
# real sweep's (0.22-1.27 on all 153 real coarse frames with two clusters) were seen: between them.
MIN_GREENNESS = 0.1
# the unmixed cover above this multiple of the share of pixels on the vegetation side (+ 0.005): most of it would come
# from pixels the image itself puts on the background side -- the background's own spread or a second, brighter
# background read as part vegetation (mixed pixels make the split *exceed* the cover, not fall below it). Set on the
# design seed 300007 (1.5-2.5 tried: 1.8 flags 5 of the 16 unflagged misses the greenness check leaves, at the cost of
# 1 red+NIR result within 0.03), before its figures on the real sweep were seen (it flags none there).
MAX_SPLIT_EXCESS = 1.8
# with at least UNDER_SPLIT_INTERIOR of the vegetation pixels interior (plants resolved: the split is near the cover), an
# unmixed cover more than UNDER_SPLIT_GAP below the split: the vegetation level (the interior's mean) is brighter
# along the discriminant than much of the vegetation (shaded or turned leaves count as part soil). First 0.4 / 0.07,
# set after seeing the design seed 300007 and the real sweep. Now 0.2 / 0.06 (honest-flags follow-up), set on the
# design seeds 300007, 300011, 300017, 300023 with the real sweep's right answers in view (with >= 20 % interior their
# gap is at most 0.055: this threshold sits just above them); docs/apps/veg_cover_trials/gsd_honest.py.
UNDER_SPLIT_INTERIOR = 0.2
UNDER_SPLIT_GAP = 0.06
# the cover clipped per pixel to 0..1 (what the map holds) and the same unclipped differ by more than this: the
# background's texture or the leaves' spread beyond the pure levels is a large part of the contrast, so the answer
# depends on how those pixels count (clipping the noise of a textured soil at 0 adds its spread to a low cover). Set
# on the design seeds 300007/11/17/23 (gsd_honest.py: 42 -> 8 red+NIR and 50 -> 13 RGB unflagged misses of 800 with
# MAX_CHROMA_EXCESS; 4 and 7 with the resolved-plants check at 0.2 / 0.06 too) with the real sweep's unflagged right
# answers in view: theirs are -0.004 to +0.0096, so this sits just above them.
CLIP_BIAS_MAX = 0.01
# the share of pixels on the vegetation side of the image's *chromatic* split (band ratios: shade does not move them,
# :func:`chroma`) above this multiple of the unmixed cover (+ 0.005): leaves in shade or turned from the sun are
# darker along the discriminant and count as part soil, while their colour says vegetation. Mixed pixels make the
# split exceed the cover (the real right answers: 1.12-1.55 x); set on the same design seeds with those in view.
MAX_CHROMA_EXCESS = 1.6
REL_UNCERTAINTY = 0.15   # interval half-width 0.01 + this x the cover: holds the truth on 92 % of the design frames'
                         # unflagged results within 0.03 (75 % of all unflagged)


@dataclass(frozen=True)
class PureLevels:
    """Levels for linear unmixing of one image's counts along its discriminant (:func:`pure_levels`)."""

    levels: Levels       # the image's two clusters over its linear counts (:func:`image_levels`)
    encoding: str        # "srgb" (RGB counts, decoded to linear before anything) or "linear"
    soil: float          # background level along the discriminant: median of the background's interior pixels
    veg: float           # vegetation level: mean of the vegetation's interior pixels (the purest observed if none)
    veg_median: float    # median of the same pixels: a second definition of the level (the interval)
    veg_observed: float  # the purest level observed; ``veg`` is beyond it by 1 / NO_PURE_RATIO when not ``pure``
    soil_mean: float
    n_pure_veg: int      # interior vegetation pixels (all 8 neighbours on the vegetation side too)
    n_veg: int           # pixels on the vegetation side
    spread: float        # (q90 - q50) / (q50 - soil) of the vegetation side
    sd: float            # per-pixel sd of the unmixed fraction: the background interior's spread / (veg - soil)
    greenness: float | None = None  # :func:`greenness`: the purest vegetation pixels' band ratios over the soil's
    # the cover over the pixels the levels were found on (a frame: all of it), per pixel clipped to 0..1 as the map
    # is, and the same without the clipping (background level: the interior's mean): :data:`CLIP_BIAS_MAX`
    cover: float | None = None
    cover_unclipped: float | None = None
    # share of those pixels on the vegetation side of the image's chromatic (band-ratio) split, which shade does not
    # move (:func:`chroma`): :data:`MAX_CHROMA_EXCESS`
    chroma_split: float | None = None

    @property
    def pure(self) -> bool:
        """At least :data:`PURE_FLAG_PX` interior vegetation pixels: the vegetation level is taken as pure."""
        return self.n_pure_veg >= PURE_FLAG_PX

    @property
    def not_green(self) -> bool:
        """The upper cluster is not clearly greener / NIR-brighter than the background (:data:`MIN_GREENNESS`)."""
        return self.greenness is not None and self.greenness < MIN_GREENNESS

    @property
    def flat(self) -> bool:
        return self.spread < FLAT_SPREAD or self.n_pure_veg > FLAT_INTERIOR * self.n_veg

    def to_dict(self) -> dict:
        d = asdict(self)
        d["levels"] = self.levels.to_dict()
        d["flat"] = self.flat
        d["pure"] = self.pure
        d["not_green"] = self.not_green
        return d


def encoding_of(band_names) -> str:
    """``"srgb"`` for RGB frames (consumer cameras store sRGB-encoded counts), ``"linear"`` for others."""
    return "srgb" if {"red", "green", "blue"} <= set(band_names) else "linear"


def srgb_to_linear(v: np.ndarray, dtype=np.float64) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding (encoded 0..1 -> linear light), computed in ``dtype``."""
    v = np.asarray(v, dtype)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(dtype, copy=False)


def linear_counts(bands: np.ndarray, band_names) -> tuple[np.ndarray, str]:
    """Camera counts as light (float32): RGB counts sRGB-decoded (:func:`encoding_of`), others taken as linear.

    8-bit frames (every value one of the 256 codes / 255 that the reader gives) are decoded by a table of
    :func:`srgb_to_linear` of those 256 values, the same bits as computing it per pixel: the power was two thirds
    of a 20 MP RGB frame's unmixing path (issue 13, stop 31). Other values (16-bit PNGs) are computed per pixel."""
    enc = encoding_of(band_names)
    if enc == "srgb":
        v = np.clip(np.asarray(bands, np.float32), 0.0, 1.0)
        codes = _codes_of(v)
        return (_SRGB_OF_CODE.take(codes) if codes is not None else srgb_to_linear(v, np.float32)), enc
    return np.asarray(bands, np.float32), enc


# the sRGB decoding of an 8-bit frame's 256 values (codes / 255, as ``io.read_frame`` gives them), as linear_counts
# computes it per pixel
_SRGB_OF_CODE = srgb_to_linear(_CODE_VALUES, np.float32)
_SRGB_OF_CODE.flags.writeable = False


def _interior(m: np.ndarray) -> np.ndarray:
    """Pixels of ``m`` whose 8 neighbours are all in ``m`` too (the image border counts as inside).

    ``scipy.ndimage.binary_erosion(m, np.ones((3, 3)), border_value=1)``, equal (test), in eight numpy ANDs of shifted
    views: importing scipy.ndimage costs the serving process ~18 MB (scipy.special with it), over its 150 MB budget.
    """
    m = np.asarray(m, bool)
    p = np.pad(m, 1, constant_values=True)
    h, w = m.shape
    out = m.copy()
    for dy in range(3):
        for dx in range(3):
            if dy != 1 or dx != 1:
                out &= p[dy:dy + h, dx:dx + w]
    return out


def pure_levels(bands: np.ndarray, band_names, valid: np.ndarray | None = None) -> PureLevels | None:
    """Soil and vegetation levels for unmixing an image of mixed pixels, from the clusters' *interiors*.

    In linear counts a pixel's coordinate along any linear direction is the area mix of its materials' coordinates,
    so the cover is the image mean of ``(t - soil) / (veg - soil)`` -- if ``soil`` and ``veg`` are the levels of pure
    pixels. At a coarse GSD the clusters' medians are not pure (most vegetation pixels are part soil); the pixels
    inside a cluster, all of whose neighbours are on the same side, are the purest the image has. Where there are
    fewer than :data:`PURE_MIN_PX` such vegetation pixels (plants smaller than ~3 pixels) the purest observed (the
    top 10 % of the vegetation side) stands in; with fewer than :data:`PURE_FLAG_PX`, :attr:`PureLevels.pure` is
    False (an interior of a plant a few pixels wide is still part soil where its leaves are finer than a pixel).
    ``bands``: (C, H, W) counts of the bands in ``band_names`` (a frame or :func:`native_windows` of a raster).
    None when the image has no two clusters.
    """
    x, enc = linear_counts(bands, band_names)
    lv = image_levels(x, band_names, valid)
    if not lv.found or lv.weights is None:
        return None
    t = discriminant(x, lv).astype(np.float64)
    ok = np.ones(t.shape, bool) if valid is None else np.asarray(valid, bool)
    veg, soil = (t > 0.5) & ok, (t <= 0.5) & ok
    if veg.sum() < PURE_MIN_PX or soil.sum() < PURE_MIN_PX:
        return None
    pv, ps = _interior(veg), _interior(soil)
    n_pv = int(pv.sum())
    q50, q90 = (float(v) for v in np.percentile(t[veg], [50, 90]))
    # the purest pixels of each side: the interiors, else the outer 10 % (vegetation) / 20 % (background) of the side
    purest_v = pv if n_pv >= PURE_MIN_PX else veg & (t >= q90)
    purest_s = ps if int(ps.sum()) >= PURE_MIN_PX else soil & (t <= np.percentile(t[soil], 20))
    ts, tp = t[purest_s], t[purest_v]
    s, s_mean = float(np.median(ts)), float(np.mean(ts))
    v_obs, v_med = float(np.mean(tp)), float(np.median(tp))
    if not v_obs - s > 1e-6:
        return None
    v = v_obs
    if n_pv < PURE_FLAG_PX:  # no pure vegetation: the true level lies beyond the purest observed
        v, v_med = s + (v_obs - s) / NO_PURE_RATIO, s + (v_med - s) / NO_PURE_RATIO
    return PureLevels(levels=lv, encoding=enc, soil=s, veg=v, veg_median=v_med, veg_observed=v_obs, soil_mean=s_mean,
                      n_pure_veg=n_pv, n_veg=int(veg.sum()), spread=(q90 - q50) / max(q50 - s, 1e-6),
                      sd=_robust_sd(ts) / (v - s), greenness=greenness(x, band_names, purest_v, purest_s),
                      **_cover_checks(x, lv, t, ok, s, s_mean, v))


def _cover_checks(x: np.ndarray, lv: Levels, t: np.ndarray, ok: np.ndarray, s: float, s_mean: float, v: float) -> dict:
    """``cover``, ``cover_unclipped`` and ``chroma_split`` of :class:`PureLevels` over the valid pixels ``ok``."""
    f = (t[ok] - s) / (v - s)
    return {"cover": float(np.mean(np.clip(f, 0.0, 1.0))),
            "cover_unclipped": float((np.mean(t[ok]) - s_mean) / (v - s_mean)) if v - s_mean > 1e-9 else None,
            "chroma_split": float(np.mean(chroma(x, lv)[ok] > 0.5)) if lv.chroma_weights is not None else None}


def greenness(x: np.ndarray, band_names, upper: np.ndarray, lower: np.ndarray) -> float | None:
    """How much greener (RGB) or NIR-brighter (red+NIR) the ``upper`` pixels are than the ``lower`` ones, in
    relative terms: with ``m`` the ratio of the two sets' mean linear counts per band, ``log m_nir - log m_red``
    (red+NIR) or ``log m_green - (log m_red + log m_blue) / 2`` (RGB). A per-band gain (white balance, exposure)
    cancels in the ratios; mixing a leaf with soil in a pixel only pulls it towards 0. Leaves over soil: clearly
    positive; a grey tray, crate or second soil over soil: near 0 or negative. None without those bands.
    """
    names = list(band_names)
    if not upper.any() or not lower.any():
        return None
    eps = 0.01 * max(float(np.mean(x)), 1e-6)
    m = {b: np.log((float(np.mean(x[i][upper])) + eps) / (float(np.mean(x[i][lower])) + eps))
         for i, b in enumerate(names)}
    if "nir" in m and "red" in m:
        return float(m["nir"] - m["red"])
    if {"red", "green", "blue"} <= set(m):
        return float(m["green"] - 0.5 * (m["red"] + m["blue"]))
    return None


def unmix_counts(bands: np.ndarray, band_names, pl: PureLevels) -> np.ndarray:
    """Per pixel, the vegetation fraction ``(t - soil) / (veg - soil)`` clipped to 0..1 (float32)."""
    x, _ = linear_counts(bands, band_names)
    t = discriminant(x, pl.levels)
    return np.clip((t - pl.soil) / (pl.veg - pl.soil), 0.0, 1.0).astype(np.float32)
