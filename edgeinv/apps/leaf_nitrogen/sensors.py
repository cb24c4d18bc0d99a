"""Sensor configurations: spectral ranges, band response functions and realistic instrument noise.

Three instrument classes a farmer or agronomist carries into the field:

* ``full`` — a full-range field spectrometer with a leaf clip (ASD FieldSpec-class: silicon VNIR
  detector to 1000 nm, two InGaAs SWIR detectors 1001-1800 and 1801-2500 nm, spectra exported at
  1 nm; FWHM about 3 nm in the VNIR and 8-10 nm in the SWIR).
* ``trimmed`` — the same spectra with their noisy ends cut off (500-2400 nm), as many users and
  processing chains export them.
* ``vnir`` — a VNIR-only instrument (silicon CCD, 400-1000 nm, FWHM about 5 nm, irregular sampling
  below 2 nm): chlorophyll yes, protein no (its absorption features are in the SWIR, Féret et al.
  2021), so nitrogen only through chlorophyll.

The model sees every spectrum on its config's fixed grid: the measured spectrum is interpolated to
1 nm and integrated through Gaussian band response functions centred on the grid
(:func:`band_response_matrix`). Simulated spectra get the instrument's resolution and noise: additive
noise that grows at the detector ends, splice steps between detectors, per-band multiplicative
noise and a per-spectrum gain and offset (calibration panel, clip pressure).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from edgeinv.common.errors import ConfigError, InvalidInputError

from .physics import WAVELENGTH_MAX_NM, WAVELENGTH_MIN_NM

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
EDGE_TOLERANCE_NM = 3.0  # a spectrum may start/end this far inside its config's range


@dataclass(frozen=True)
class Instrument:
    """How one instrument class samples and corrupts a leaf spectrum (for simulation).

    ``fwhm_nm`` holds ``(upper_edge_nm, fwhm_nm)`` pairs: the FWHM applies up to that edge.
    ``noise_floor`` is the additive reflectance noise (1 sigma) mid-detector; ``noise_low_edge`` /
    ``noise_high_edge`` the extra noise at the range ends, decaying over ``edge_decay_nm``.
    ``splices_nm`` are detector boundaries where a multiplicative step appears.
    ``sampling_nm``: (min, max) native sampling; (1, 1) means exported at exactly 1 nm.
    """

    title: str
    min_nm: float
    max_nm: float
    fwhm_nm: tuple[tuple[float, float], ...]
    noise_floor: float
    noise_low_edge: float
    noise_high_edge: float
    edge_decay_nm: float
    splices_nm: tuple[float, ...]
    splice_sd: float
    gain_sd: float
    offset_sd: float
    multiplicative_sd: float
    sampling_nm: tuple[float, float] = (1.0, 1.0)


@dataclass(frozen=True)
class SensorConfig:
    """One model family: the wavelength range it needs, its model grid, and what it can support."""

    name: str
    title: str
    min_nm: float
    max_nm: float
    grid_step_nm: float
    grid_fwhm_nm: float
    supports_protein: bool
    instrument: Instrument
    limits: str

    @property
    def grid_nm(self) -> np.ndarray:
        return np.arange(self.min_nm, self.max_nm + 0.5 * self.grid_step_nm, self.grid_step_nm)


FIELD_SPECTROMETER = Instrument(
    title="full-range field spectrometer with leaf clip (ASD FieldSpec-class)",
    min_nm=400, max_nm=2500, fwhm_nm=((1000, 3.0), (1800, 8.0), (2500, 10.0)),
    noise_floor=8e-4, noise_low_edge=4e-3, noise_high_edge=7e-3, edge_decay_nm=45.0,
    splices_nm=(1000.5, 1800.5), splice_sd=4e-3, gain_sd=0.015, offset_sd=1.5e-3,
    multiplicative_sd=2e-3,
)
VNIR_SPECTROMETER = Instrument(
    title="VNIR spectrometer (silicon CCD, 400-1000 nm)",
    min_nm=400, max_nm=1000, fwhm_nm=((1000, 5.0),),
    noise_floor=1e-3, noise_low_edge=6e-3, noise_high_edge=8e-3, edge_decay_nm=40.0,
    splices_nm=(), splice_sd=0.0, gain_sd=0.02, offset_sd=2e-3, multiplicative_sd=3e-3,
    sampling_nm=(0.4, 1.6),
)

CONFIGS: dict[str, SensorConfig] = {
    "full": SensorConfig(
        name="full", title="full range 400-2500 nm", min_nm=400, max_nm=2500, grid_step_nm=10,
        grid_fwhm_nm=10, supports_protein=True, instrument=FIELD_SPECTROMETER,
        limits="none: proteins from their SWIR absorption features (2100-2180 nm), water and dry matter from the SWIR",
    ),
    "trimmed": SensorConfig(
        name="trimmed", title="trimmed 500-2400 nm", min_nm=500, max_nm=2400, grid_step_nm=10,
        grid_fwhm_nm=10, supports_protein=True,
        instrument=FIELD_SPECTROMETER,
        limits="blue edge below 500 nm and SWIR beyond 2400 nm missing: carotenoids weakly constrained",
    ),
    "vnir": SensorConfig(
        name="vnir", title="VNIR 400-1000 nm", min_nm=400, max_nm=1000, grid_step_nm=5,
        grid_fwhm_nm=5, supports_protein=False, instrument=VNIR_SPECTROMETER,
        limits=("no SWIR: proteins, water and dry matter have no absorption features below 1000 nm; "
                "nitrogen is estimated only through chlorophyll (the Cab-N relation of the training "
                "prior), not measured"),
    ),
}
CONFIG_ORDER = ("full", "trimmed", "vnir")  # most capable first


def get_config(name: str) -> SensorConfig:
    if name not in CONFIGS:
        raise ConfigError(f"sensor config must be one of {', '.join(CONFIG_ORDER)}; got {name!r}")
    return CONFIGS[name]


def choose_config(wavelength_nm) -> str:
    """The most capable config whose range the spectrum covers (within 3 nm at each end).

    Raises InvalidInputError naming the covered range and what each config needs otherwise.
    """
    wl = np.asarray(wavelength_nm, dtype=float)
    lo, hi = float(wl.min()), float(wl.max())
    for name in CONFIG_ORDER:
        c = CONFIGS[name]
        if lo <= c.min_nm + EDGE_TOLERANCE_NM and hi >= c.max_nm - EDGE_TOLERANCE_NM:
            return name
    needs = "; ".join(f"{n}: {CONFIGS[n].min_nm:g}-{CONFIGS[n].max_nm:g} nm" for n in CONFIG_ORDER)
    raise InvalidInputError(
        f"the spectrum covers {lo:g}-{hi:g} nm, which no model supports",
        hint=f"a spectrum must cover one of these ranges ({needs})",
    )


@functools.lru_cache(maxsize=8)
def band_response_matrix(config: str) -> np.ndarray:
    """Gaussian band response functions of the config's grid, on the 1 nm grid (rows sum to 1).

    Row ``i`` holds the normalised Gaussian SRF (FWHM ``grid_fwhm_nm``) centred on grid band ``i``,
    sampled on ``config.min_nm .. config.max_nm`` at 1 nm and truncated (then renormalised) at the
    range ends, so a spectrum on that 1 nm grid maps to the model grid by a matrix product.
    """
    c = get_config(config)
    fine = np.arange(c.min_nm, c.max_nm + 1.0)
    sigma = c.grid_fwhm_nm * FWHM_TO_SIGMA
    w = np.exp(-0.5 * ((fine[None, :] - c.grid_nm[:, None]) / sigma) ** 2)
    w[w < 1e-6] = 0.0
    return w / w.sum(axis=1, keepdims=True)


def fine_grid_nm(config: str) -> np.ndarray:
    c = get_config(config)
    return np.arange(c.min_nm, c.max_nm + 1.0)


def resample_to_grid(*, wavelength_nm, values, config: str) -> np.ndarray:
    """A measured spectrum (any sampling) on the config's model grid through its band responses.

    ``values`` is (L,) or (n, L) on ``wavelength_nm`` (increasing, nm). The spectrum is linearly
    interpolated to 1 nm over the config's range and integrated with :func:`band_response_matrix`.
    Returns (n_grid,) or (n, n_grid).
    """
    c = get_config(config)
    wl = np.asarray(wavelength_nm, dtype=float)
    v = np.asarray(values, dtype=float)
    if wl[0] > c.min_nm + EDGE_TOLERANCE_NM or wl[-1] < c.max_nm - EDGE_TOLERANCE_NM:
        raise InvalidInputError(
            f"the spectrum covers {wl[0]:g}-{wl[-1]:g} nm; the {config} model needs {c.min_nm:g}-{c.max_nm:g} nm"
        )
    fine = fine_grid_nm(config)
    if v.ndim == 1:
        on_fine = np.interp(fine, wl, v)
    else:
        on_fine = np.stack([np.interp(fine, wl, row) for row in v])
    return on_fine @ band_response_matrix(config).T


def _instrument_fwhm(inst: Instrument, wavelength_nm: np.ndarray) -> np.ndarray:
    fwhm = np.empty_like(wavelength_nm, dtype=float)
    lower = -np.inf
    for edge, value in inst.fwhm_nm:
        fwhm[(wavelength_nm > lower) & (wavelength_nm <= edge)] = value
        lower = edge
    fwhm[wavelength_nm > lower] = inst.fwhm_nm[-1][1]
    return fwhm


def instrument_blur(*, reflectance_1nm, inst: Instrument) -> np.ndarray:
    """Convolve 1 nm spectra (n, 2101 over 400-2500 nm) with the instrument's Gaussian SRF.

    The FWHM changes by detector; each region is blurred with its own width and the regions are
    stitched (scipy.ndimage.gaussian_filter1d, reflecting boundaries).
    """
    r = np.atleast_2d(np.asarray(reflectance_1nm, dtype=float))
    wl = np.arange(WAVELENGTH_MIN_NM, WAVELENGTH_MAX_NM + 1.0)
    out = np.empty_like(r)
    fwhm = _instrument_fwhm(inst, wl)
    for value in np.unique(fwhm):
        sel = fwhm == value
        out[:, sel] = gaussian_filter1d(r, value * FWHM_TO_SIGMA, axis=1, mode="reflect")[:, sel]
    return out


def noise_sd(*, wavelength_nm, inst: Instrument) -> np.ndarray:
    """Additive noise (1 sigma, reflectance units) by wavelength: a floor plus noisier range ends."""
    wl = np.asarray(wavelength_nm, dtype=float)
    return (inst.noise_floor
            + inst.noise_low_edge * np.exp(-(wl - inst.min_nm) / inst.edge_decay_nm)
            + inst.noise_high_edge * np.exp((wl - inst.max_nm) / inst.edge_decay_nm))


def measure(*, reflectance_1nm, config: str, rng: np.random.Generator, noise_scale=None, same_sampling: bool = False):
    """Simulate what the config's instrument records for 1 nm PROSPECT spectra (400-2500 nm).

    Parameters
    ----------
    reflectance_1nm : (n, 2101) noise-free reflectance from :func:`physics.prospect_pro`.
    config : sensor config name.
    rng : random generator.
    noise_scale : (n,) per-spectrum noise multiplier; default lognormal around 1 (sd 0.4 in log).
    same_sampling : one wavelength axis for all spectra (e.g. a leaf's R and T from one instrument).

    Returns
    -------
    list of ``(wavelength_nm, reflectance)`` pairs, one per leaf, on the instrument's own sampling
    and trimmed to the config's range.
    """
    c = get_config(config)
    inst = c.instrument
    r = instrument_blur(reflectance_1nm=reflectance_1nm, inst=inst)
    n = r.shape[0]
    wl_full = np.arange(WAVELENGTH_MIN_NM, WAVELENGTH_MAX_NM + 1.0)
    keep = (wl_full >= c.min_nm) & (wl_full <= c.max_nm)
    scale = rng.lognormal(0.0, 0.4, n) if noise_scale is None else np.broadcast_to(noise_scale, (n,))
    gain = rng.normal(1.0, inst.gain_sd, n)[:, None]
    offset = rng.normal(0.0, inst.offset_sd, n)[:, None]
    steps = np.ones_like(r)
    for edge in inst.splices_nm:
        steps[:, wl_full > edge] *= rng.normal(1.0, inst.splice_sd, (n, 1))
    sd = noise_sd(wavelength_nm=wl_full, inst=inst)[None, :] * scale[:, None]
    # neighbouring 1 nm values share detector pixels: lightly correlated noise (sigma 0.7 nm)
    additive = gaussian_filter1d(rng.standard_normal(r.shape), 0.7, axis=1) * 1.6 * sd
    mult = 1.0 + inst.multiplicative_sd * rng.standard_normal(r.shape)
    noisy = r * gain * steps * mult + offset + additive
    out = []
    lo_s, hi_s = inst.sampling_nm
    wl_keep = wl_full[keep]  # shared by every leaf exported at 1 nm (read-only by convention)
    wl = None
    for i in range(n):
        if lo_s == hi_s == 1.0:
            out.append((wl_keep, noisy[i, keep]))
            continue
        if wl is None or not same_sampling:
            step = rng.uniform(lo_s, hi_s)
            start = c.min_nm - rng.uniform(0.0, 2.0)
            wl = np.arange(start, c.max_nm + 2.0, step)
            wl = wl[(wl >= WAVELENGTH_MIN_NM) & (wl <= WAVELENGTH_MAX_NM)]
        out.append((wl, np.interp(wl, wl_full, noisy[i])))
    return out
