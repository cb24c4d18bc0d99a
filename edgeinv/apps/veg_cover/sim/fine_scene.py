"""Close-range scene simulator for the segmentation path: individual leaves on soil or other backgrounds, as a camera sees them.

At millimetre-to-centimetre ground sampling distance a pixel is almost always pure leaf or pure
background, so the question becomes *which pixels are vegetation* and cover is their share (what a
hand-drawn mask counts). This simulator resolves what makes that hard on real frames:

* leaves: ellipses and thin stems grouped into plants, each leaf with its own PROSPECT-D spectrum
  (Feret et al. 2017; chlorophyll 12-75 ug/cm2, structure 1.2-2.4), stems and petioles with less
  chlorophyll and up to 12 ug/cm2 anthocyanin (often red), specular highlights (a spectrally flat
  surface reflection of the direct light on part of a leaf);
* light, physically: per band, the direct sunlight's share of the irradiance (prosail's direct and
  diffuse spectra at a sun zenith of 15-60 deg, less under haze). A leaf's orientation scales only
  its direct part (cosine of the incidence, 0-1.4 x a flat leaf's); shadows -- of the plants on the
  background and of upper leaves on the leaves below them -- remove only the direct part. So shaded
  surfaces are darker *and* bluer (skylight) but keep their own colour otherwise, as on real frames;
* backgrounds: prosail's dry/wet soil at any brightness from black potting compost to bright dry
  soil with texture, crop residue, stones, and non-soil surfaces -- white, grey or black plastic of
  trays and crates with straight edges, slightly tinted;
* the camera: band integration with the camera class's Gaussian responses, unknown per-band gain and
  black offset, leakage between bands (NIR into "red" on dual-band cameras), optics blur, shot and
  read noise, Bayer demosaicing (RGB: blotchy colour noise on dark surfaces), exposure from under to
  over (a quarter of the frames over-exposed 1.2-2.5 x: bright leaves clip channel by channel and turn
  pale), gamma encoding, 8-bit quantisation and JPEG compression.

Truth is binary per pixel: more than half of the pixel's footprint is leaf. Training side (needs
``prosail`` for the leaf and soil spectra); numpy + OpenCV otherwise.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter

from . import physics
from ..cameras import Camera

OVERSAMPLE = 4  # fine cells per pixel and axis: leaf edges give mixed pixels as on a real sensor


@functools.lru_cache(maxsize=2)
def _leaf_library(n: int = 48, seed: int = 7, *, stems: bool = False) -> np.ndarray:
    """Reflectance spectra (n, wavelengths) of green leaves: PROSPECT-D over chlorophyll and structure.

    ``stems=True``: stems and petioles, less chlorophyll and often anthocyanin-red (PROSPECT-D's
    anthocyanin up to 12 ug/cm2) -- plant, hence vegetation in a hand-drawn mask, but not very green.
    """
    import prosail

    rng = np.random.default_rng(seed + (1000 if stems else 0))
    out = []
    for _ in range(n):
        cab = rng.uniform(5, 35) if stems else rng.uniform(12, 75)
        ant = rng.uniform(0, 12) if stems else rng.uniform(0, 2)
        _, r, _ = prosail.run_prospect(rng.uniform(1.2, 2.4), cab, cab / rng.uniform(3.5, 6.0), rng.uniform(0, 0.3),
                                       rng.uniform(0.005, 0.02), rng.uniform(0.002, 0.008), ant=ant,
                                       prospect_version="D")
        out.append(np.asarray(r, np.float64)[: physics.WAVELENGTH_NM.size])
    return np.stack(out)


def _band(spectra: np.ndarray, srf: np.ndarray) -> np.ndarray:
    """Band reflectance (..., bands) of spectra (..., wavelengths) under daylight, weights from the SRFs."""
    w = physics.band_weights(srf, tts_deg=35.0)
    return spectra @ w.T


def _plants(shape: tuple[int, int], rng: np.random.Generator, *, target_cover: float, leaf_px: float):
    """Fine-grid label image (H, W) (0 = none, k = leaf k, drawn bottom to top), the number of leaves
    and the labels that are stems."""
    h, w = shape
    labels = np.zeros((h, w), np.int32)
    stems = []
    area = h * w
    k = 0
    n_plants = max(1, int(rng.integers(1, 8)))
    centres = rng.uniform(0, 1, (n_plants, 2)) * (h, w)
    covered = 0.0
    tries = 0
    while covered < target_cover * area and tries < 400:
        tries += 1
        cy, cx = centres[rng.integers(n_plants)]
        spread = leaf_px * rng.uniform(0.5, 3.0)
        y, x = cy + rng.normal(0, spread), cx + rng.normal(0, spread)
        k += 1
        if rng.random() < 0.12:  # a stem or petiole: a thin line
            ang = rng.uniform(0, np.pi)
            length = leaf_px * rng.uniform(1, 4)
            p0 = (int(x), int(y))
            p1 = (int(x + length * np.cos(ang)), int(y + length * np.sin(ang)))
            cv2.line(labels, p0, p1, int(k), max(1, int(leaf_px * rng.uniform(0.05, 0.15))))
            stems.append(k)
        else:
            a = leaf_px * rng.uniform(0.4, 1.2)
            b = a * rng.uniform(0.3, 0.9)
            cv2.ellipse(labels, (int(x), int(y)), (max(1, int(a)), max(1, int(b))), float(rng.uniform(0, 180)), 0, 360,
                        int(k), -1)
        covered = float(np.count_nonzero(labels))
    return labels, k, np.asarray(stems, np.int64)


def _background(shape, rng, soil_band, residue_band, flat_bands, n_bands):
    """Background reflectance (H, W, B) and a mask of where it is soil-like (for shadows' strength)."""
    h, w = shape
    kind = rng.choice(["soil", "dark_soil", "soil", "bright_soil"])
    bright = {"soil": rng.uniform(0.35, 1.1), "dark_soil": rng.uniform(0.06, 0.3),
              "bright_soil": rng.uniform(1.0, 1.6)}[kind]
    wet = rng.uniform(0, 1)
    base = bright * (wet * soil_band[1] + (1 - wet) * soil_band[0])  # (B,)
    tex = np.exp(gaussian_filter(rng.standard_normal((h, w)), rng.uniform(1, 6)) * rng.uniform(0.5, 3.0)
                 * rng.uniform(0.05, 0.25))
    bg = base[None, None, :] * tex[..., None]
    grain = 1 + rng.uniform(0.0, 0.25) * rng.standard_normal((h, w))  # clods and crumbs below the pixel size
    bg = bg * np.clip(grain, 0.3, None)[..., None]
    if rng.random() < 0.3:  # crop residue / straw patches
        m = gaussian_filter(rng.standard_normal((h, w)), rng.uniform(3, 12)) > rng.uniform(0.3, 1.0) * 0.1
        bg = np.where(m[..., None], residue_band[None, None, :] * rng.uniform(0.5, 1.3), bg)
    if rng.random() < 0.3:  # stones
        stones = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 12))):
            cv2.ellipse(stones, (int(rng.uniform(0, w)), int(rng.uniform(0, h))),
                        (int(rng.uniform(2, 20)), int(rng.uniform(2, 14))), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        grey = rng.uniform(0.1, 0.6) * (1 + rng.normal(0, 0.05, n_bands))
        bg = np.where(stones[..., None] > 0, grey[None, None, :], bg)
    surface = None
    if rng.random() < 0.35:  # non-soil surface: tray or crate edge, plastic sheet, black cloth
        level = rng.choice([rng.uniform(0.5, 0.95), rng.uniform(0.15, 0.5), rng.uniform(0.01, 0.06)])
        surface = float(level)
        tint = flat_bands * (1 + rng.normal(0, 0.06, n_bands))
        surf = np.zeros((h, w), np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            ang = rng.uniform(0, np.pi)
            off = rng.uniform(-0.5, 0.5) * max(h, w)
            width = rng.uniform(0.05, 0.4) * max(h, w)
            yy, xx = np.mgrid[0:h, 0:w]
            d = (xx - w / 2) * np.cos(ang) + (yy - h / 2) * np.sin(ang) - off
            surf |= (np.abs(d) < width / 2).astype(np.uint8)
        shade = 1 + 0.15 * gaussian_filter(rng.standard_normal((h, w)), 20)
        bg = np.where(surf[..., None] > 0, (level * tint)[None, None, :] * shade[..., None], bg)
    return bg, {"background": str(kind), "surface": surface}


def render_fine(*, camera: Camera, shape_px: tuple[int, int], rng: np.random.Generator):
    """One close-range frame. Returns ``(bands (C, H, W) float32 DN/full scale, truth (H, W) 0/1, info)``."""
    h, w = shape_px
    k = OVERSAMPLE
    H, W = h * k, w * k
    srf = camera.srf(physics.WAVELENGTH_NM, shift_nm=rng.normal(0, 5.0, len(camera.bands)),
                     fwhm_scale=np.exp(rng.normal(0, 0.15, len(camera.bands))))
    sp = physics._spectra()
    soil_band = _band(np.stack([sp["soil_dry"], sp["soil_wet"]]), srf)
    residue_band = _band(physics._residue_spectrum(), srf)
    flat = np.ones(len(camera.bands))
    leaves = _band(_leaf_library(), srf)  # (n_lib, B)
    nb = len(camera.bands)

    target = float(rng.choice([rng.uniform(0.0, 0.12), rng.uniform(0.0, 0.85)]))
    leaf_px = float(np.exp(rng.uniform(np.log(2.0), np.log(25.0)))) * k  # leaf half-length in fine cells
    labels, n_leaves, stems = _plants((H, W), rng, target_cover=target, leaf_px=leaf_px)
    bg, bg_info = _background((H, W), rng, soil_band, residue_band, flat, nb)

    # light: per band, the direct sunlight's share of the irradiance (prosail's direct and diffuse
    # spectra at the sun's zenith; less of it under haze or thin cloud). Shade removes the direct part
    # only, so shaded surfaces are darker *and* bluer (skylight), but keep their own colour otherwise.
    tts = float(rng.uniform(15.0, 60.0))
    direct = physics.direct_fraction(physics.band_weights(srf, tts_deg=tts), tts_deg=tts)
    direct = np.clip(direct * (1.0 if rng.random() < 0.7 else rng.uniform(0.2, 1.0)), 0.0, 0.95)  # (B,)
    leaf = labels > 0
    shadow = np.zeros((H, W), np.float32)   # shadow of the plants cast on the background
    upper = np.zeros((H, W), np.float32)    # on a leaf: shadow of the leaves drawn above it
    if n_leaves and rng.random() < 0.85:
        dist = rng.uniform(0.2, 2.0) * leaf_px
        ang = rng.uniform(0, 2 * np.pi)
        m = np.float32([[1, 0, dist * np.cos(ang)], [0, 1, dist * np.sin(ang)]])
        shifted = cv2.warpAffine(labels.astype(np.float32), m, (W, H), flags=cv2.INTER_NEAREST)
        blur = rng.uniform(0.5, 3.0) * k  # penumbra
        opacity = rng.uniform(0.6, 1.0)
        shadow = gaussian_filter((shifted > 0).astype(np.float32), blur) * opacity
        upper = gaussian_filter((shifted > labels).astype(np.float32), blur) * opacity * leaf
    light = 1.0 - shadow[..., None] * direct[None, None, :]  # (H, W, B)
    img = bg * light
    if n_leaves:
        lib_idx = rng.integers(0, len(leaves), n_leaves + 1)
        refl = leaves[lib_idx]  # (n+1, B)
        if stems.size:
            stem_lib = _band(_leaf_library(stems=True), srf)
            refl[stems] = stem_lib[rng.integers(0, len(stem_lib), stems.size)]
        # a leaf's own orientation: the direct part scales with the cosine of the sun's incidence on it
        # (0 for a leaf turned away, up to ~1.4 x a flat leaf's for one facing the sun); diffuse light stays
        incidence = rng.uniform(0.0, 1.4, n_leaves + 1)
        illum = (1.0 - direct)[None, :] + direct[None, :] * incidence[:, None]
        spec = rng.uniform(0, 0.25, n_leaves + 1) * (rng.random(n_leaves + 1) < 0.3)
        leaf_img = (refl * illum)[labels]  # (H, W, B)
        # leaves shade the leaves below them: the direct part removed where an upper leaf's shadow falls
        leaf_img = leaf_img * (1.0 - upper[..., None] * direct[None, None, :])
        # specular highlight: flat reflection of the direct light on a blob inside the leaf
        hl = gaussian_filter(rng.standard_normal((H, W)), 2 * k) > 0.4 * 0.05
        hl_amt = spec[labels] * hl * (1.0 - upper)
        leaf_img = leaf_img + hl_amt[..., None]
        # darker veins / leaf texture
        leaf_img = leaf_img * (1 + 0.08 * gaussian_filter(rng.standard_normal((H, W)), k)[..., None])
        img = np.where(leaf[..., None], leaf_img, img)
    img = img * rng.uniform(0.7, 1.2)
    # to the sensor grid
    frac = leaf.reshape(h, k, w, k).mean(axis=(1, 3))
    truth = (frac > 0.5).astype(np.float32)
    bands = img.reshape(h, k, w, k, nb).mean(axis=(1, 3))
    psf = rng.uniform(0.2, 1.0)
    bands = np.stack([gaussian_filter(bands[..., b], psf) for b in range(nb)])
    bands = _camera_dn(bands, camera=camera, rng=rng)
    info = {"gsd_m": float(rng.uniform(0.0003, 0.01)), "tts_deg": tts, "tto_deg": 0.0, "ala_deg": 55.0,
            "fvc_true_mean": float(truth.mean()), "layout": "leaves", **bg_info}
    return bands.astype(np.float32), truth, info


def _camera_dn(bands: np.ndarray, *, camera: Camera, rng: np.random.Generator) -> np.ndarray:
    """Uncalibrated camera counts / full scale: leakage, per-band gain and offset, noise, gamma, 8 bit, JPEG."""
    c = bands.shape[0]
    mix = np.eye(c)
    if "nir" in camera.bands and "red" in camera.bands:  # NIR leaking into the red channel (and a little back)
        r, n = camera.bands.index("red"), camera.bands.index("nir")
        mix[r, n] = rng.uniform(0.0, 0.6)
        mix[n, r] = rng.uniform(0.0, 0.1)
    x = np.tensordot(mix, bands, axes=1)
    # white balance (RGB cameras balance their channels; dual-band cameras do not) and exposure
    gain = np.exp(rng.normal(0, 0.1 if camera.encoding == "srgb8" else 0.3, c)) * np.exp(rng.normal(0, 0.4))
    # exposure: the 99th percentile at 0.6-1.1 of full scale, or over-exposed (auto-exposure metering a
    # dark background): bright leaves clip channel by channel and turn pale
    level = rng.uniform(0.6, 1.1) if rng.random() < 0.75 else rng.uniform(1.2, 2.5)
    x = x * gain[:, None, None] / max(float(np.percentile(x * gain[:, None, None], 99)), 1e-3) * level
    x = x + rng.uniform(-0.01, 0.04, c)[:, None, None]  # black level
    noise = np.sqrt(rng.uniform(1e-5, 2e-3) * np.clip(x, 0, None) + rng.uniform(1e-3, 8e-3) ** 2)
    x = x + noise * rng.standard_normal(x.shape)
    x = np.clip(x, 0, 1)
    if c == 3 and rng.random() < 0.7:  # a Bayer sensor: colour noise and edge fringes of demosaicing
        x = _bayer(x)
    if rng.random() < 0.6:
        x = x ** (1 / rng.uniform(1.6, 2.4))
    x = np.round(x * 255).astype(np.uint8)
    if rng.random() < 0.5:  # JPEG artefacts (colour subsampling and block quantisation)
        q = int(rng.integers(55, 96))
        if c == 3:
            enc = cv2.imdecode(cv2.imencode(".jpg", np.ascontiguousarray(np.moveaxis(x, 0, 2)),
                                            [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_UNCHANGED)
            x = np.moveaxis(enc, 2, 0)
        else:
            x = np.stack([cv2.imdecode(cv2.imencode(".jpg", b, [cv2.IMWRITE_JPEG_QUALITY, q])[1], cv2.IMREAD_UNCHANGED)
                          for b in x])
    return x.astype(np.float32) / 255.0


def _bayer(x: np.ndarray) -> np.ndarray:
    """RGB (3, H, W) in 0-1 as a Bayer (RGGB) sensor records it: one colour per photosite, the other two
    interpolated by bilinear demosaicing (OpenCV), which spreads each photosite's noise into blotches of
    false colour -- what dark soil looks like on a cheap camera."""
    h, w = x.shape[1:]
    mosaic = np.empty((h, w), np.float32)
    mosaic[0::2, 0::2] = x[0, 0::2, 0::2]
    mosaic[0::2, 1::2] = x[1, 0::2, 1::2]
    mosaic[1::2, 0::2] = x[1, 1::2, 0::2]
    mosaic[1::2, 1::2] = x[2, 1::2, 1::2]
    rgb = cv2.cvtColor(np.round(mosaic * 65535).astype(np.uint16), cv2.COLOR_BayerBG2RGB)  # OpenCV's name for RGGB
    return np.moveaxis(rgb.astype(np.float32) / 65535.0, 2, 0)
