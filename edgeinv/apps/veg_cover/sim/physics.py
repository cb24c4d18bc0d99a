"""Radiative transfer for the scene simulator: a PROSAIL lookup table, soil, shadows, band integration.

Canopy reflectance comes from PROSAIL (PROSPECT-D leaf optics, Feret et al. 2017, RSE 193:204,
coupled with the 4SAIL canopy model, Verhoef et al. 2007, IEEE TGRS 45:1808; review: Jacquemoud et
al. 2009, RSE 113:S56) through the ``prosail`` package. A call is cheap but a scene needs one per
pixel, so the model is run once per process on a small grid (leaf area index, average leaf angle,
chlorophyll, soil brightness and moisture, sun and view zenith) and cached; scenes interpolate it.

Illumination follows PROSAIL's reference program: the direct and diffuse irradiance spectra shipped
with ``prosail`` weighted by the sky-light fraction
``skyl = 0.847 - 1.61 sin(90-tts) + 1.04 sin^2(90-tts)`` (Francois et al. 2002, Agronomie 22:605),
so the observed canopy reflectance is ``(rdot * Ed * skyl + rsot * Es * (1-skyl)) / E_total``.
The ground-truth cover of a canopy element is its nadir-view gap complement ``1 - too`` from 4SAIL
(Nilson 1971 gap probability), the usual definition of fractional vegetation cover.

Soil is prosail's dry/wet soil pair mixed as ``rsoil * (psoil * dry + (1 - psoil) * wet)``; a
shadowed surface receives only the diffuse part of the irradiance. Everything up to the band
integration is spectral (400-1000 nm, 1 nm); band values are ``int rho S E / int S E``.

``prosail`` (and numba behind it) is imported only when the table is first built: this module is
safe to import on the edge side.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

WAVELENGTH_NM = np.arange(400, 1001, dtype=np.float64)  # 1 nm, what the cameras see
_WL_SLICE = slice(0, WAVELENGTH_NM.size)  # prosail spectra start at 400 nm, 1 nm step

# Grid of the lookup table. Scene-level axes first (interpolated once per scene), then the
# per-pixel axes (interpolated per pixel), then wavelength.
LUT_AXES: dict[str, np.ndarray] = {
    "ala_deg": np.array([35.0, 55.0, 72.0]),          # average leaf inclination (Campbell LIDF)
    "rsoil": np.array([0.4, 0.9, 1.4]),               # soil brightness scale
    "psoil": np.array([0.0, 0.5, 1.0]),               # 1 = dry, 0 = wet
    "tts_deg": np.array([15.0, 37.5, 60.0]),          # sun zenith
    "tto_deg": np.array([0.0, 20.0]),                 # view zenith
    "lai": np.array([0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 7.0]),
    "cab_ug_cm2": np.array([10.0, 25.0, 40.0, 60.0, 80.0]),
}
SCENE_AXES = ("ala_deg", "rsoil", "psoil", "tts_deg", "tto_deg")
# Fixed leaf parameters (PROSPECT-D): structure N, carotenoids as a quarter of Cab, water, dry matter.
LEAF = {"n": 1.5, "cbrown": 0.0, "cw": 0.012, "cm": 0.005, "ant": 0.0}
HOTSPOT = 0.05
RELATIVE_AZIMUTH_DEG = 90.0  # cross-plane view: no hotspot at nadir, as a nadir camera sees it


def sky_fraction(*, tts_deg: float) -> float:
    """Diffuse fraction of the irradiance at sun zenith ``tts_deg`` (Francois et al. 2002)."""
    s = np.sin(np.deg2rad(90.0 - float(tts_deg)))
    return float(np.clip(0.847 - 1.61 * s + 1.04 * s * s, 0.0, 1.0))


@functools.lru_cache(maxsize=1)
def _spectra():
    """prosail's soil and irradiance spectra, 400-1000 nm (training side: imports prosail)."""
    import prosail

    lib = prosail.spectral_lib
    return {
        "soil_dry": np.asarray(lib.soil.rsoil1, dtype=np.float64)[_WL_SLICE],
        "soil_wet": np.asarray(lib.soil.rsoil2, dtype=np.float64)[_WL_SLICE],
        "es": np.asarray(lib.light.es, dtype=np.float64)[_WL_SLICE],
        "ed": np.asarray(lib.light.ed, dtype=np.float64)[_WL_SLICE],
    }


def irradiance(*, tts_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Direct and diffuse irradiance spectra (relative units) at the ground for sun zenith ``tts_deg``."""
    sp = _spectra()
    skyl = sky_fraction(tts_deg=tts_deg)
    return sp["es"] * (1.0 - skyl), sp["ed"] * skyl


@dataclass(frozen=True)
class CanopyLUT:
    """PROSAIL run on the :data:`LUT_AXES` grid.

    ``reflectance``: (ala, rsoil, psoil, tts, tto, lai, cab, wavelength) observed reflectance under
    sun + sky. ``gap_view``: (ala, tts, tto, lai) nadir/view gap fraction ``too``;
    ``gap_sun``: same, in the sun direction (``tss``), for cast shadows.
    """

    reflectance: np.ndarray
    gap_view: np.ndarray
    gap_sun: np.ndarray


@functools.lru_cache(maxsize=1)
def canopy_lut() -> CanopyLUT:
    """Build (once per process) the PROSAIL lookup table; about 8,000 4SAIL runs, a few seconds."""
    import prosail

    ax = LUT_AXES
    shape = tuple(len(ax[k]) for k in (*SCENE_AXES, "lai", "cab_ug_cm2"))
    refl = np.zeros((*shape, WAVELENGTH_NM.size), dtype=np.float32)
    gap_view = np.zeros((len(ax["ala_deg"]), len(ax["tts_deg"]), len(ax["tto_deg"]), len(ax["lai"])))
    gap_sun = np.zeros_like(gap_view)
    sp = _spectra()
    leaves = []
    for cab in ax["cab_ug_cm2"]:
        _, r, t = prosail.run_prospect(LEAF["n"], cab, cab / 4.0, LEAF["cbrown"], LEAF["cw"], LEAF["cm"],
                                       ant=LEAF["ant"], prospect_version="D")
        leaves.append((r, t))
    for i_a, ala in enumerate(ax["ala_deg"]):
        for i_r, rs in enumerate(ax["rsoil"]):
            for i_p, ps in enumerate(ax["psoil"]):
                rsoil0 = rs * (ps * np.asarray(prosail.spectral_lib.soil.rsoil1)
                               + (1.0 - ps) * np.asarray(prosail.spectral_lib.soil.rsoil2))
                for i_s, tts in enumerate(ax["tts_deg"]):
                    skyl = sky_fraction(tts_deg=tts)
                    e_dir, e_dif = sp["es"] * (1.0 - skyl), sp["ed"] * skyl
                    for i_o, tto in enumerate(ax["tto_deg"]):
                        for i_l, lai in enumerate(ax["lai"]):
                            for i_c, (r, t) in enumerate(leaves):
                                out = prosail.run_sail(r, t, max(lai, 1e-6), ala, HOTSPOT, tts, tto,
                                                       RELATIVE_AZIMUTH_DEG, typelidf=2, rsoil0=rsoil0,
                                                       factor="ALLALL")
                                tss, too, rdot, rsot = out[0], out[1], out[14], out[17]
                                rdot, rsot = np.asarray(rdot)[_WL_SLICE], np.asarray(rsot)[_WL_SLICE]
                                refl[i_a, i_r, i_p, i_s, i_o, i_l, i_c] = (rdot * e_dif + rsot * e_dir) / (e_dif + e_dir)
                            gap_view[i_a, i_s, i_o, i_l] = float(too)
                            gap_sun[i_a, i_s, i_o, i_l] = float(tss)
    return CanopyLUT(reflectance=refl, gap_view=gap_view, gap_sun=gap_sun)


def band_weights(srf: np.ndarray, *, tts_deg: float) -> np.ndarray:
    """Integration weights ``S(l) E(l) / int S E`` per band, shape (n_bands, n_wavelengths)."""
    e_dir, e_dif = irradiance(tts_deg=tts_deg)
    w = np.asarray(srf, dtype=np.float64) * (e_dir + e_dif)[None, :]
    return w / w.sum(axis=1, keepdims=True)


def direct_fraction(weights: np.ndarray, *, tts_deg: float) -> np.ndarray:
    """Per band, the share of the band-integrated irradiance that is direct sunlight (lost in shadow)."""
    e_dir, e_dif = irradiance(tts_deg=tts_deg)
    return weights @ (e_dir / (e_dir + e_dif))


@dataclass(frozen=True)
class SceneOptics:
    """Band-integrated optics of one scene: what every pixel of that scene is mixed from.

    ``canopy``: (n_lai, n_cab, n_bands) reflectance of a canopy element; ``cover``: (n_lai,) its
    nadir cover ``1 - too``; ``shade``: (n_lai,) shadow density ``1 - tss`` it casts; ``soil_dry``,
    ``soil_wet``, ``residue``: (n_bands,) band reflectances; ``direct``: (n_bands,) direct share.
    """

    canopy: np.ndarray
    cover: np.ndarray
    shade: np.ndarray
    soil_dry: np.ndarray
    soil_wet: np.ndarray
    residue: np.ndarray
    direct: np.ndarray


@functools.lru_cache(maxsize=1)
def _residue_spectrum() -> np.ndarray:
    """Reflectance of dry crop residue: a senescent PROSPECT-D leaf (brown pigments, no chlorophyll)."""
    import prosail

    _, r, _ = prosail.run_prospect(2.2, 2.0, 2.0, 1.2, 0.001, 0.012, prospect_version="D")
    return np.asarray(r, dtype=np.float64)[_WL_SLICE]


def scene_optics(srf: np.ndarray, *, ala_deg: float, rsoil: float, psoil: float, tts_deg: float,
                 tto_deg: float) -> SceneOptics:
    """Interpolate the PROSAIL table at one scene's conditions and integrate it to the camera bands.

    Parameters
    ----------
    srf : (n_bands, n_wavelengths) spectral responses on :data:`WAVELENGTH_NM`.
    ala_deg : average leaf inclination (deg); rsoil, psoil : soil brightness and dryness;
    tts_deg, tto_deg : sun and view zenith angles (deg). Values are clipped to the table's range.
    """
    # here, not at import: sim is training side, but a serving process may import its light parts, and
    # scipy.interpolate (with scipy.optimize/sparse/spatial) would cost every veg-cover server ~49 MB resident
    from scipy.interpolate import RegularGridInterpolator

    lut = canopy_lut()
    ax = LUT_AXES
    point = np.array([np.clip(v, ax[k][0], ax[k][-1]) for k, v in
                      zip(SCENE_AXES, (ala_deg, rsoil, psoil, tts_deg, tto_deg))])
    spectra = RegularGridInterpolator([ax[k] for k in SCENE_AXES], lut.reflectance)(point[None])[0]
    weights = band_weights(srf, tts_deg=point[3])
    canopy = spectra @ weights.T  # (lai, cab, bands)
    gap_axes = [ax["ala_deg"], ax["tts_deg"], ax["tto_deg"]]
    gpoint = point[[0, 3, 4]][None]
    too = RegularGridInterpolator(gap_axes, lut.gap_view)(gpoint)[0]
    tss = RegularGridInterpolator(gap_axes, lut.gap_sun)(gpoint)[0]
    sp = _spectra()
    return SceneOptics(
        canopy=canopy.astype(np.float32), cover=(1.0 - too).astype(np.float32),
        shade=(1.0 - tss).astype(np.float32),
        soil_dry=(weights @ sp["soil_dry"]).astype(np.float32), soil_wet=(weights @ sp["soil_wet"]).astype(np.float32),
        residue=(weights @ _residue_spectrum()).astype(np.float32),
        direct=direct_fraction(weights, tts_deg=point[3]).astype(np.float32))


def canopy_pixels(optics: SceneOptics, *, lai: np.ndarray, cab_ug_cm2: np.ndarray) -> np.ndarray:
    """Band reflectance of canopy elements at per-pixel LAI and chlorophyll; (..., n_bands) float32.

    Bilinear in (LAI, Cab) on the table grid (OpenCV ``remap`` on each band's 2-D table, after
    mapping the values to fractional grid indices).
    """
    import cv2

    ax = LUT_AXES
    lai = np.asarray(lai, dtype=np.float32)
    fi = np.interp(lai, ax["lai"], np.arange(ax["lai"].size)).astype(np.float32)
    fj = np.interp(np.asarray(cab_ug_cm2, dtype=np.float32), ax["cab_ug_cm2"],
                   np.arange(ax["cab_ug_cm2"].size)).astype(np.float32)
    shape2d = lai.shape if lai.ndim == 2 else (1, lai.size)  # OpenCV maps are 2-D (< 32767 a side)
    flat_i, flat_j = fi.reshape(shape2d), fj.reshape(shape2d)
    out = np.empty((flat_i.size, optics.canopy.shape[-1]), np.float32)
    for b in range(optics.canopy.shape[-1]):
        table = np.ascontiguousarray(optics.canopy[:, :, b], dtype=np.float32)
        out[:, b] = cv2.remap(table, flat_j, flat_i, interpolation=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE).ravel()
    return out.reshape(*lai.shape, -1)


def lai_curve(optics_curve: np.ndarray, lai: np.ndarray) -> np.ndarray:
    """Interpolate a per-LAI curve of the table (``optics.cover`` or ``optics.shade``) at ``lai``."""
    return np.interp(np.asarray(lai, dtype=np.float64), LUT_AXES["lai"], optics_curve).astype(np.float32)


def soil_pixels(optics: SceneOptics, *, rsoil: np.ndarray, psoil: np.ndarray) -> np.ndarray:
    """Soil band reflectance ``rsoil * (psoil * dry + (1 - psoil) * wet)`` per pixel, (..., n_bands)."""
    rs = np.asarray(rsoil, dtype=np.float32)[..., None]
    ps = np.asarray(psoil, dtype=np.float32)[..., None]
    return rs * (ps * optics.soil_dry + (1.0 - ps) * optics.soil_wet)
