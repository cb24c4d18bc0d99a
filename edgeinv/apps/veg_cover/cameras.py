"""Camera classes the veg-cover app knows: band roles, spectral responses, sensor geometry, noise.

One shipped model family per camera class (``App.configs``). The figures are data, used by the
scene simulator (spectral response functions, noise) and by the flight planner (altitude for a
wanted ground sampling distance).

* ``multispectral5`` -- a MicaSense RedEdge-class 5-band camera: centre/FWHM 475/32, 560/27,
  668/14, 717/12, 842/57 nm (RedEdge-MX band table), 4.8 x 3.6 mm sensor, 5.4 mm lens,
  1280 x 960 px, i.e. 8 cm GSD at 120 m.
* ``red_nir`` -- a dual-band "NDVI camera" (red and NIR band-pass filters on a 12 MP 1/2.3" CMOS,
  6.17 x 4.55 mm, 4000 x 3000 px, 4.5 mm lens). Representative figures for the class, not one
  product's datasheet.
* ``rgb`` -- a plain RGB drone camera (1" 20 MP, 13.2 x 8.8 mm, 8.8 mm lens, 5472 x 3648 px: the
  DJI Phantom 4 Pro class, 2.74 cm GSD at 100 m) with broad, overlapping Bayer responses.

Spectral response functions are modelled as Gaussians with the given centre and FWHM, the usual
approximation when the manufacturer's curves are not at hand (e.g. Jiang et al. 2013, "What is the
space of spectral sensitivity functions for digital color cameras?", WACV, for the RGB shapes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgeinv.common.errors import ConfigError

BAND_ROLES = ("blue", "green", "red", "rededge", "nir")
# Band roles a reader accepts in --bands or band descriptions; "ignore" skips a band (alpha, thermal).
ACCEPTED_ROLES = (*BAND_ROLES, "ignore")
ROLE_ALIASES = {"b": "blue", "g": "green", "r": "red", "re": "rededge", "red_edge": "rededge",
                "red-edge": "rededge", "n": "nir", "near-infrared": "nir", "nearir": "nir", "ir": "nir",
                "alpha": "ignore", "a": "ignore", "lwir": "ignore", "thermal": "ignore", "mask": "ignore"}


@dataclass(frozen=True)
class Camera:
    """A camera class: spectral bands and the geometry the flight planner needs.

    Parameters
    ----------
    config : model config name (``App.configs``).
    bands : band roles in the camera's own order.
    centre_nm, fwhm_nm : Gaussian spectral response per band (nm).
    sensor_width_mm, focal_mm, image_width_px, image_height_px : pinhole geometry.
    noise_shot, noise_read : Poisson-Gaussian noise, variance = shot * value + read**2 (value units).
    gain_sd : per-image, per-band calibration/exposure spread (relative, one sd).
    encoding : "reflectance" (calibrated float reflectance) or "srgb8" (8-bit gamma-encoded DN).
    """

    config: str
    label: str
    bands: tuple[str, ...]
    centre_nm: tuple[float, ...]
    fwhm_nm: tuple[float, ...]
    sensor_width_mm: float
    focal_mm: float
    image_width_px: int
    image_height_px: int
    noise_shot: float
    noise_read: float
    gain_sd: float
    encoding: str = "reflectance"

    def gsd_m(self, *, altitude_m: float) -> float:
        """Ground sampling distance (m/px) at a flight altitude: GSD = H * s_w / (f * W)."""
        return float(altitude_m) * self.sensor_width_mm / (self.focal_mm * self.image_width_px)

    def altitude_m(self, *, gsd_m: float) -> float:
        """Flight altitude (m above ground) giving ``gsd_m``: H = GSD * f * W / s_w."""
        return float(gsd_m) * self.focal_mm * self.image_width_px / self.sensor_width_mm

    def footprint_m(self, *, altitude_m: float) -> tuple[float, float]:
        """Ground footprint (across, along) of one frame at ``altitude_m``."""
        gsd = self.gsd_m(altitude_m=altitude_m)
        return gsd * self.image_width_px, gsd * self.image_height_px

    def srf(self, wavelength_nm: np.ndarray, *, shift_nm: np.ndarray | None = None,
            fwhm_scale: np.ndarray | None = None) -> np.ndarray:
        """Spectral response functions, shape ``(n_bands, n_wavelengths)``, each peak-normalised.

        ``shift_nm``/``fwhm_scale`` (per band) perturb the nominal filters: unit-to-unit variation
        that the simulator draws so a model does not overfit one filter set.
        """
        wl = np.asarray(wavelength_nm, dtype=np.float64)
        centre = np.asarray(self.centre_nm, dtype=np.float64)
        fwhm = np.asarray(self.fwhm_nm, dtype=np.float64)
        if shift_nm is not None:
            centre = centre + np.asarray(shift_nm, dtype=np.float64)
        if fwhm_scale is not None:
            fwhm = fwhm * np.asarray(fwhm_scale, dtype=np.float64)
        sigma = fwhm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        return np.exp(-0.5 * ((wl[None, :] - centre[:, None]) / sigma[:, None]) ** 2)


CAMERAS: dict[str, Camera] = {
    "multispectral5": Camera(
        config="multispectral5", label="5-band multispectral (MicaSense RedEdge class)",
        bands=("blue", "green", "red", "rededge", "nir"),
        centre_nm=(475.0, 560.0, 668.0, 717.0, 842.0), fwhm_nm=(32.0, 27.0, 14.0, 12.0, 57.0),
        sensor_width_mm=4.8, focal_mm=5.4, image_width_px=1280, image_height_px=960,
        noise_shot=2e-4, noise_read=3e-3, gain_sd=0.04),
    "red_nir": Camera(
        config="red_nir", label="red + NIR NDVI camera",
        bands=("red", "nir"), centre_nm=(650.0, 850.0), fwhm_nm=(40.0, 40.0),
        sensor_width_mm=6.17, focal_mm=4.5, image_width_px=4000, image_height_px=3000,
        noise_shot=4e-4, noise_read=5e-3, gain_sd=0.08),
    "rgb": Camera(
        config="rgb", label="RGB camera (1-inch 20 MP class)",
        bands=("red", "green", "blue"), centre_nm=(605.0, 540.0, 465.0), fwhm_nm=(80.0, 90.0, 90.0),
        sensor_width_mm=13.2, focal_mm=8.8, image_width_px=5472, image_height_px=3648,
        noise_shot=3e-4, noise_read=4e-3, gain_sd=0.06, encoding="srgb8"),
}

# Segmentation-path models (pure pixels at millimetre-centimetre GSD), one per band set; the camera
# class they simulate. A 5-band image at fine GSD uses its red and NIR bands.
FINE_CONFIGS: dict[str, str] = {"red_nir_fine": "red_nir", "rgb_fine": "rgb"}
CONFIGS = tuple(CAMERAS) + tuple(FINE_CONFIGS)
# Ground sampling distances the simulator draws (sim.scene) and the models were trained on; the edge path's
# confidence check reads it here (importing sim.scene would load scipy.ndimage into every veg-cover server).
GSD_RANGE_M = (0.003, 0.12)


def get_camera(config: str) -> Camera:
    """The camera class for a config name (a segmentation config maps to its camera); ConfigError otherwise."""
    config = FINE_CONFIGS.get(config, config)
    if config not in CAMERAS:
        raise ConfigError(f"camera must be one of {', '.join(CAMERAS)}; got {config!r}")
    return CAMERAS[config]


def fine_config_for(config: str) -> str:
    """The segmentation config for the bands of a camera config."""
    return "rgb_fine" if FINE_CONFIGS.get(config, config) == "rgb" else "red_nir_fine"


def normalise_role(name: str) -> str | None:
    """Canonical band role for a band name/description, or None if it is not recognised."""
    key = str(name).strip().lower().replace(" ", "")
    if key in ACCEPTED_ROLES:
        return key
    if key in ROLE_ALIASES:
        return ROLE_ALIASES[key]
    for role in ("rededge", "nir", "blue", "green", "red"):  # descriptions like "Band 5 (NIR)"
        if role in key.replace("-", "").replace("_", "").replace("(", " ").replace(")", " "):
            return role
    if "nearinfrared" in key or "infrared" in key:
        return "nir"
    return None


def config_for_roles(roles) -> str | None:
    """The richest camera config whose bands are all present among ``roles`` (None if none fits)."""
    have = set(roles)
    for config in ("multispectral5", "red_nir", "rgb"):
        if set(CAMERAS[config].bands) <= have:
            return config
    return None
