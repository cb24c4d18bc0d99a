"""Scene simulator: a field layout rendered finely, mixed to the sensor grid and imaged by a camera.

Steps (training side; PROSAIL through :mod:`.physics`):

1. draw a layout (:mod:`.layouts`) on a fine grid, ``oversample`` cells per sensor pixel and per axis;
2. reflectance per fine cell: canopy elements from the PROSAIL table at the cell's LAI and
   chlorophyll, soil from the dry/wet soil pair plus residue, cast shadows on the soil (crowns
   shifted away from the sun by ``height * tan(sun zenith)``; a shadow removes the direct part of
   the irradiance);
3. ground truth per fine cell: crown area x nadir cover ``1 - too`` of the element;
4. box-average both to the sensor's GSD (linear mixing of radiance = area average: mixed pixels are
   real), blur with the optics' point spread function (truth is not blurred: it is the footprint);
5. camera: vignetting, exposure/calibration gain per band, Poisson-Gaussian noise, and for RGB
   auto-exposure, sRGB gamma and 8-bit quantisation.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter, shift as nd_shift

from . import physics
from ..cameras import GSD_RANGE_M, Camera  # noqa: F401 (GSD_RANGE_M re-exported)
from .layouts import draw_field, grid_coordinates


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB transfer function (linear 0..1 -> encoded 0..1)."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055).astype(np.float32)


def draw_conditions(rng: np.random.Generator, *, gsd_m: float | None = None) -> dict:
    """Random scene-level conditions: GSD (log-uniform), sun and view zenith, sun azimuth, leaf angle."""
    lo, hi = GSD_RANGE_M
    return {
        "gsd_m": float(gsd_m) if gsd_m else float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
        "tts_deg": float(rng.uniform(15, 60)), "tto_deg": float(rng.uniform(0, 20)),
        "sun_azimuth_deg": float(rng.uniform(0, 360)), "ala_deg": float(rng.uniform(35, 72)),
    }


def oversample_for(gsd_m: float) -> int:
    """Fine cells per sensor pixel (per axis): at least 3, and 2 cm or finer when that costs <= 6."""
    return int(np.clip(np.ceil(gsd_m / 0.02), 3, 6))


def render(*, camera: Camera, shape_px: tuple[int, int], rng: np.random.Generator, gsd_m: float | None = None,
           layout: str | None = None, frame_offset: tuple[float, float] | None = None,
           exposure: float | None = None):
    """Render one scene. Returns ``(bands (C, H, W) float32, truth (H, W) float32, info dict)``.

    ``bands`` follow ``camera.bands`` on the common scale (reflectance, or DN/255 for sRGB cameras).
    ``frame_offset`` places the scene inside a camera frame for vignetting (normalised radius units;
    random if None). ``exposure`` fixes the RGB exposure (else auto-exposure on the scene).
    """
    cond = draw_conditions(rng, gsd_m=gsd_m)
    gsd = cond["gsd_m"]
    k = oversample_for(gsd)
    res = gsd / k
    h, w = shape_px
    extent = max(h, w) * gsd
    tan_s = np.tan(np.deg2rad(cond["tts_deg"]))
    margin_m = min(0.1 * extent, 1.0 * tan_s) + 2 * gsd  # room for shadows cast from outside and blur
    m_px = int(np.ceil(margin_m / gsd))
    H, W = (h + 2 * m_px) * k, (w + 2 * m_px) * k
    origin = tuple(rng.uniform(-50, 50, size=2))
    x_m, y_m = grid_coordinates(shape=(H, W), res_m=res, origin_m=origin)
    fld, params = draw_field(x_m=x_m, y_m=y_m, res_m=res, rng=rng, kind=layout)
    del x_m, y_m
    srf = camera.srf(physics.WAVELENGTH_NM, shift_nm=rng.normal(0, 3.0, len(camera.bands)),
                     fwhm_scale=np.exp(rng.normal(0, 0.08, len(camera.bands))))
    optics = physics.scene_optics(srf, ala_deg=cond["ala_deg"], rsoil=float(np.mean(fld.rsoil)),
                                  psoil=float(np.mean(fld.psoil)), tts_deg=cond["tts_deg"], tto_deg=cond["tto_deg"])
    canopy = physics.canopy_pixels(optics, lai=fld.lai, cab_ug_cm2=fld.cab)          # (H, W, B)
    truth_f = fld.crown * physics.lai_curve(optics.cover, fld.lai)
    soil = physics.soil_pixels(optics, rsoil=fld.rsoil, psoil=fld.psoil)
    soil = soil * (1 - fld.residue[..., None]) + fld.residue[..., None] * optics.residue
    # cast shadows: crown opacity in the sun direction, displaced away from the sun
    density = fld.crown * physics.lai_curve(optics.shade, fld.lai)
    if density.any():
        hmean = float(np.sum(fld.height_m * density) / max(float(density.sum()), 1e-9))
        length = hmean * tan_s / res
        az = np.deg2rad(cond["sun_azimuth_deg"])
        shadow = np.clip(nd_shift(density, (length * np.cos(az), -length * np.sin(az)), order=1, mode="constant"), 0, 1)
        soil = soil * (1 - shadow[..., None] * optics.direct)
        cond["shadow_length_m"] = hmean * tan_s
    crown = fld.crown[..., None]
    fine = crown * canopy + (1 - crown) * soil
    del canopy, soil
    # box average to the sensor grid, crop the margin
    hs, ws = H // k, W // k
    bands = fine.reshape(hs, k, ws, k, -1).mean(axis=(1, 3))
    truth = truth_f.reshape(hs, k, ws, k).mean(axis=(1, 3))
    psf = float(rng.uniform(0.3, 0.8))
    bands = np.stack([gaussian_filter(bands[..., b], psf, mode="nearest") for b in range(bands.shape[-1])])
    bands, truth = bands[:, m_px:m_px + h, m_px:m_px + w], truth[m_px:m_px + h, m_px:m_px + w]
    bands = _camera(bands, camera=camera, rng=rng, frame_offset=frame_offset, exposure=exposure)
    info = {**cond, **params, "camera": camera.config, "oversample": k, "psf_px": psf,
            "fvc_true_mean": float(truth.mean())}
    return bands.astype(np.float32), np.clip(truth, 0, 1).astype(np.float32), info


def _camera(bands: np.ndarray, *, camera: Camera, rng: np.random.Generator, frame_offset, exposure):
    """Vignetting, per-band gain, Poisson-Gaussian noise and the camera's encoding."""
    c, h, w = bands.shape
    if frame_offset is None:
        frame_offset = tuple(rng.uniform(-0.8, 0.8, size=2))
    half = max(h, w) / 2.0 / max(rng.uniform(0.15, 1.0), 1e-3)  # scene covers a random part of the frame
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((yy - h / 2) / half + frame_offset[0]) ** 2 + ((xx - w / 2) / half + frame_offset[1]) ** 2
    vignette = 1.0 - rng.uniform(0.0, 0.2) * np.clip(r2, 0, 2) / 2
    gain = np.exp(rng.normal(0, camera.gain_sd, size=c))[:, None, None]
    signal = bands * vignette[None] * gain
    if camera.encoding == "srgb8":
        if exposure is None:  # average metering: scene mean to mid grey, with some error
            exposure = 0.18 / max(float(signal.mean()), 1e-3) * float(np.exp(rng.normal(0, 0.25)))
        signal = signal * exposure
    noise_sd = np.sqrt(camera.noise_shot * np.clip(signal, 0, None) + camera.noise_read ** 2)
    signal = signal + noise_sd * rng.standard_normal(signal.shape)
    if camera.encoding == "srgb8":
        return np.round(srgb_encode(signal) * 255.0) / 255.0
    return np.clip(signal, 0.0, None)
