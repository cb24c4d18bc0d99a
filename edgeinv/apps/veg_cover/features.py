"""Edge-side preprocessing: per-pixel model input channels (bands plus vegetation indices) for each camera.

Every channel is computed from one pixel's own band values, so a tile processed with any amount of
context gives exactly the same input as the whole image (what makes windowed processing equal to
whole-image processing). Channels per camera config (``FEATURES``):

* ``multispectral5``: 4 x reflectance of blue, green, red, red edge, NIR; NDVI (Rouse et al. 1974);
  NDRE (red-edge normalised difference, Gitelson & Merzlyak 1994).
* ``red_nir``: 4 x red and NIR reflectance; NDVI; the soil-adjusted vegetation index SAVI
  (Huete 1988, L = 0.5), less sensitive to soil brightness where cover is sparse.
* ``rgb``: 2 x the R, G, B values (DN / 255); excess green ExG = 2g - r - b (Woebbecke et al. 1995)
  and excess red ExR = 1.4r - g (Meyer et al. 1998) on chromatic coordinates.

Reflectance is scaled by 4 (and DN by 2) so inputs are of order one. numpy only.
"""

from __future__ import annotations

import numpy as np

from edgeinv.common.errors import InvalidInputError

FEATURES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # config: (bands used, in this order; channel names)
    "multispectral5": (("blue", "green", "red", "rededge", "nir"),
                       ("blue", "green", "red", "rededge", "nir", "ndvi", "ndre")),
    "red_nir": (("red", "nir"), ("red", "nir", "ndvi", "savi")),
    "rgb": (("red", "green", "blue"), ("red", "green", "blue", "exg", "exr")),
    # segmentation path: the image's Fisher coordinate (0 at its background level, 1 at its vegetation
    # level), its chromatic coordinate (the same scale over log-ratios of the bands: unchanged by shade
    # and exposure) and the distance off the line between the two levels (:mod:`.radiometry`). All are
    # invariant to per-band gain; the colours themselves are left out on purpose, so the model cannot
    # learn the simulator's palette instead of the contrast every image has.
    "red_nir_fine": (("red", "nir"), ("fisher", "chroma", "off_line")),
    "rgb_fine": (("red", "green", "blue"), ("fisher", "chroma", "off_line")),
}
FINE = ("red_nir_fine", "rgb_fine")
EPS = 1e-6


def fine_input_config(band_names, config: str) -> str:
    """The segmentation config whose bands compute ``config``'s input for an image with ``band_names``.

    Both segmentation configs feed the same three coordinates (the image's own background-to-vegetation
    scale along its discriminant, its chromatic counterpart, the distance off the line), whatever the
    bands; so an RGB frame can feed (and calibrate) the red+NIR model and a red+NIR frame the RGB one.
    ``config`` itself when the image has its bands.
    """
    names = set(band_names)
    if set(FEATURES[config][0]) <= names:
        return config
    return next((c for c in FINE if set(FEATURES[c][0]) <= names), config)


def n_channels(config: str) -> int:
    return len(FEATURES[config][1])


def select_bands(bands: np.ndarray, band_names, config: str) -> np.ndarray:
    """The bands a config needs, in its order, from a (C, H, W) array with roles ``band_names``, as float32.

    Where they are one run of ``bands`` in that order (an RGB frame for the RGB models, a red+NIR pair) and already
    float32, the result is a **read-only view** of it instead of a copy: a 20 MP RGB frame's level estimation copied
    the whole frame (240 MB, ~0.5-0.7 s) to read a subsample of it, and every tile its bands (issue 13, stop 31).
    Callers only read it; one that writes gets numpy's read-only error instead of changing the image.
    """
    needed = FEATURES[config][0]
    names = list(band_names)
    missing = [b for b in needed if b not in names]
    if missing:
        raise InvalidInputError(f"the {config} model needs band(s) {', '.join(missing)}; image has {', '.join(names)}")
    idx = [names.index(b) for b in needed]
    if bands.dtype == np.float32 and idx == list(range(idx[0], idx[0] + len(idx))):
        view = bands[idx[0]:idx[0] + len(idx)]
        view.flags.writeable = False
        return view
    return np.stack([bands[i] for i in idx]).astype(np.float32, copy=False)


def normalised_difference(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """(a - b) / (a + b), 0 where |a + b| <= EPS (both near zero); float32, into ``out`` if given.

    A plain division, then the zeros: a ``where=`` division runs numpy's masked loop (20 % of the multispectral
    features' time, issue 13, stop 26), and the zeros are rarely needed at all (one ``min`` tells)."""
    a, b = np.asarray(a), np.asarray(b)
    shape, dtype = np.broadcast_shapes(a.shape, b.shape), np.result_type(a, b, np.float32)
    s = np.add(a, b, out=np.empty(shape, dtype))
    d = np.subtract(a, b, out=out if out is not None and out.dtype == dtype else np.empty(shape, dtype))
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(d, s, out=d)
    np.abs(s, out=s)
    if not s.min(initial=np.inf) > EPS:  # some sum is near zero (or NaN): 0 there
        d[~(s > EPS)] = 0.0
    d = d.astype(np.float32, copy=False)
    if out is not None and d is not out:
        out[...] = d
        return out
    return d


def chromatic(r: np.ndarray, g: np.ndarray, b: np.ndarray):
    """Chromatic coordinates r, g, b (each band over their sum; 1/3 each for black pixels)."""
    s = r + g + b
    ok = s > EPS
    inv = np.where(ok, 1.0 / np.where(ok, s, 1.0), 0.0)
    third = np.float32(1.0 / 3.0)
    return (np.where(ok, r * inv, third).astype(np.float32), np.where(ok, g * inv, third).astype(np.float32),
            np.where(ok, b * inv, third).astype(np.float32))


def excess_green(r, g, b) -> np.ndarray:
    """ExG = 2g - r - b on chromatic coordinates (Woebbecke et al. 1995, Trans. ASAE 38:259)."""
    rc, gc, bc = chromatic(r, g, b)
    return (2 * gc - rc - bc).astype(np.float32)


def excess_red(r, g, b) -> np.ndarray:
    """ExR = 1.4r - g on chromatic coordinates (Meyer et al. 1998)."""
    rc, gc, _ = chromatic(r, g, b)
    return (1.4 * rc - gc).astype(np.float32)


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """NDVI = (NIR - red) / (NIR + red) (Rouse et al. 1974)."""
    return normalised_difference(nir, red)


def channels(bands: np.ndarray, band_names, config: str, levels=None) -> np.ndarray:
    """Model input (n_channels, H, W) float32 for ``config`` from bands on the common scale.

    Segmentation configs need the image's ``levels`` (:func:`.radiometry.image_levels` over the
    config's bands, computed once per image, so tiles of one image share them).
    """
    if config == "multispectral5":  # the large-orthomosaic path: no copies, same bits (issue 13, fifth round)
        return _multispectral5(bands, band_names)
    x = select_bands(bands, band_names, config)
    if config in FINE:
        from .radiometry import chroma, discriminant, off_line_distance

        if levels is None:
            raise InvalidInputError(f"the {config} model needs the image's background/vegetation levels")
        t = np.clip(discriminant(x, levels), -3.0, 4.0)
        c = np.clip(chroma(x, levels), -3.0, 4.0)
        off = np.clip(off_line_distance(x, levels), 0.0, 20.0) / 5.0
        return np.stack([t, c, off]).astype(np.float32)
    x = np.clip(x, 0.0, 4.0)  # reflectance/DN beyond physical range: sensor artefacts
    if config == "red_nir":
        red, nir = x
        savi = 1.5 * (nir - red) / (nir + red + 0.5)
        out = [4 * red, 4 * nir, ndvi(red, nir), savi]
    elif config == "rgb":
        r, g, b = x
        out = [2 * r, 2 * g, 2 * b, excess_green(r, g, b), excess_red(r, g, b)]
    else:  # pragma: no cover - configs are validated by the app
        raise InvalidInputError(f"unknown config {config!r}")
    return np.stack(out).astype(np.float32)


def _multispectral5(bands: np.ndarray, band_names) -> np.ndarray:
    """:func:`channels` for multispectral5: each band clipped to 0..4 straight into the output (no stacked copy,
    no clipped copy), NDVI and NDRE from the clipped bands as :func:`normalised_difference` computes them, then
    the bands x 4 in place. The same bits as selecting, clipping and scaling copies (the clip's bounds are exact
    in float32); ~10x less time on a 272 px tile, which allocated three 1.5-2 MB arrays before (issue 13)."""
    names = list(band_names)
    needed = FEATURES["multispectral5"][0]
    if any(b not in names for b in needed):
        select_bands(bands, band_names, "multispectral5")  # raises the missing-band error
    out = np.empty((7,) + bands.shape[1:], np.float32)
    for i, b in enumerate(needed):
        np.clip(bands[names.index(b)], 0.0, 4.0, out=out[i])  # reflectance/DN beyond physical range: artefacts
    normalised_difference(out[4], out[2], out=out[5])  # NDVI
    normalised_difference(out[4], out[3], out=out[6])  # NDRE
    out[:5] *= np.float32(4)
    return out


def cue_conflict(x: np.ndarray) -> np.ndarray:
    """Segmentation input (3, H, W) -> 0.5 where the band coordinate and the chromatic one fall on opposite
    sides of the midway between background and vegetation (a shaded leaf, a pale over-exposed leaf, a tinted
    surface: the model has to pick one cue), 0 elsewhere; float32, the pixel sd of such a decision."""
    return np.where((x[0] > 0.5) != (x[1] > 0.5), 0.5, 0.0).astype(np.float32)


def vegetation_index(bands: np.ndarray, band_names) -> tuple[np.ndarray, str]:
    """The classical index for these bands: NDVI where NIR and red exist, ExG for RGB."""
    names = list(band_names)
    if "nir" in names and "red" in names:
        return ndvi(bands[names.index("red")], bands[names.index("nir")]), "ndvi"
    if all(b in names for b in ("red", "green", "blue")):
        return excess_green(*(bands[names.index(b)] for b in ("red", "green", "blue"))), "exg"
    raise InvalidInputError(f"no vegetation index for bands {', '.join(names)}")
