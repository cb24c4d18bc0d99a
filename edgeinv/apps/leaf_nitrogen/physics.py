"""PROSPECT-PRO leaf optics in numpy/scipy, and leaf nitrogen from leaf protein.

PROSPECT represents a leaf as a pile of ``N`` elementary absorbing plates separated by air
(Jacquemoud & Baret 1990, after the plate model of Allen et al. 1969). PROSPECT-PRO (Féret et al.
2021) splits the dry matter of PROSPECT-D (Féret et al. 2017) into proteins and the other
carbon-based constituents (CBC), so that ``LMA = proteins + CBC``. With proteins and CBC at zero
and LMA given, the model is exactly PROSPECT-D.

References
----------
Allen, W.A., Gausman, H.W., Richardson, A.J., Thomas, J.R. (1969). Interaction of isotropic light
    with a compact plant leaf. J. Opt. Soc. Am. 59(10), 1376-1379.
Stern, F. (1964). Transmission of isotropic radiation across an interface between two
    dielectrics. Appl. Opt. 3(1), 111-113. Allen, W.A. (1973). J. Opt. Soc. Am. 63(6), 664-666.
Stokes, G.G. (1862). On the intensity of the light reflected from or transmitted through a pile
    of plates. Proc. R. Soc. Lond. 11, 545-556.
Jacquemoud, S., Baret, F. (1990). PROSPECT: a model of leaf optical properties spectra.
    Remote Sens. Environ. 34, 75-91.
Féret, J.-B., Gitelson, A.A., Noble, S.D., Jacquemoud, S. (2017). PROSPECT-D. Remote Sens.
    Environ. 193, 204-215.
Féret, J.-B., Berger, K., de Boissieu, F., Malenovský, Z. (2021). PROSPECT-PRO for estimating
    content of nitrogen-containing leaf proteins and other carbon-based constituents. Remote Sens.
    Environ. 252, 112173.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
from scipy.special import exp1

from edgeinv.common.errors import InvalidInputError

WAVELENGTH_MIN_NM = 400
WAVELENGTH_MAX_NM = 2500

# Leaf nitrogen-to-protein conversion factor (g protein per g N). The generic 6.25 assumes 16 % N
# in protein and that all N is protein N; for leaves Yeoh & Wee (1994, Food Chemistry 49:245-250,
# "Leaf protein contents and nitrogen-to-protein conversion factors for 90 plant species") reported
# a mean factor of 4.43, the value used with PROSPECT-PRO (see docs/apps/leaf_nitrogen.md).
DEFAULT_N_TO_PROTEIN = 4.43


@dataclass(frozen=True)
class OpticalConstants:
    """PROSPECT-PRO optical constants on a wavelength grid (see data/PROVENANCE.md).

    Attributes are 1-D arrays of the same length: ``wavelength_nm``, ``refractive_index`` and the
    specific absorption coefficients ``k_chl`` (cm2/ug), ``k_car`` (cm2/ug), ``k_ant``,
    ``k_brown`` (arbitrary), ``k_water`` (cm-1), ``k_lma``, ``k_protein``, ``k_cbc`` (cm2/g).
    """

    wavelength_nm: np.ndarray
    refractive_index: np.ndarray
    k_chl: np.ndarray
    k_car: np.ndarray
    k_ant: np.ndarray
    k_brown: np.ndarray
    k_water: np.ndarray
    k_lma: np.ndarray
    k_protein: np.ndarray
    k_cbc: np.ndarray

    def interfaces(self, alpha_deg: float) -> tuple[np.ndarray, np.ndarray]:
        """Cached ``(t_alpha, t_90)`` interface transmissivities of this constants table."""
        cache = self.__dict__.setdefault("_tav_cache", {})
        key = float(alpha_deg)
        if key not in cache:
            cache[key] = (interface_transmissivity(alpha_deg=key, refractive_index=self.refractive_index),
                          interface_transmissivity(alpha_deg=90.0, refractive_index=self.refractive_index))
        return cache[key]

    def subset(self, wavelength_nm) -> "OpticalConstants":
        """The constants at ``wavelength_nm`` (exact 1 nm rows, linear interpolation otherwise)."""
        wl = np.asarray(wavelength_nm, dtype=float)
        if wl.ndim != 1 or wl.size == 0:
            raise InvalidInputError("wavelength_nm must be a non-empty 1-D array")
        if wl.min() < WAVELENGTH_MIN_NM or wl.max() > WAVELENGTH_MAX_NM:
            raise InvalidInputError(
                f"PROSPECT-PRO is defined from {WAVELENGTH_MIN_NM} to {WAVELENGTH_MAX_NM} nm; "
                f"asked for {wl.min():g}-{wl.max():g} nm"
            )
        if np.all(wl == np.round(wl)):
            idx = wl.astype(int) - WAVELENGTH_MIN_NM
            return OpticalConstants(*(getattr(self, f)[idx] for f in self.__dataclass_fields__))
        cols = [np.interp(wl, self.wavelength_nm, getattr(self, f)) for f in self.__dataclass_fields__]
        return OpticalConstants(*cols)


@functools.lru_cache(maxsize=1)
def optical_constants() -> OpticalConstants:
    """The PROSPECT-PRO constants, 400-2500 nm at 1 nm, loaded once from the package data."""
    text = resources.files(__package__).joinpath("data/prospect_pro_spectra.txt").read_text()
    table = np.loadtxt(text.splitlines(), comments="#")
    if table.shape != (WAVELENGTH_MAX_NM - WAVELENGTH_MIN_NM + 1, 10):
        raise RuntimeError(f"prospect_pro_spectra.txt has shape {table.shape}, expected (2101, 10)")
    return OpticalConstants(*(np.ascontiguousarray(table[:, i]) for i in range(10)))


def interface_transmissivity(*, alpha_deg: float, refractive_index) -> np.ndarray:
    """Mean transmissivity of a dielectric plane surface for isotropic light within a solid angle.

    Stern (1964), Allen (1973): transmissivity averaged over all polarisations and over all
    directions of incidence within ``alpha_deg`` of the normal, for relative refractive index
    ``refractive_index`` (array). Returns an array of the same shape.
    """
    nr = np.asarray(refractive_index, dtype=float)
    n2 = nr * nr
    npx = n2 + 1.0
    nm = n2 - 1.0
    a = (nr + 1.0) ** 2 / 2.0
    k = -((n2 - 1.0) ** 2) / 4.0
    sa = np.sin(np.deg2rad(alpha_deg))
    b1 = np.sqrt((sa * sa - npx / 2.0) ** 2 + k) if alpha_deg != 90 else 0.0
    b2 = sa * sa - npx / 2.0
    b = b1 - b2
    ts = (k**2 / (6.0 * b**3) + k / b - b / 2.0) - (k**2 / (6.0 * a**3) + k / a - a / 2.0)
    tp1 = -2.0 * n2 * (b - a) / npx**2
    tp2 = -2.0 * n2 * npx * np.log(b / a) / nm**2
    tp3 = n2 * (1.0 / b - 1.0 / a) / 2.0
    tp4 = 16.0 * n2**2 * (n2**2 + 1.0) * np.log((2.0 * npx * b - nm**2) / (2.0 * npx * a - nm**2)) / (npx**3 * nm**2)
    tp5 = 16.0 * n2**3 * (1.0 / (2.0 * npx * b - nm**2) - 1.0 / (2.0 * npx * a - nm**2)) / npx**3
    return (ts + tp1 + tp2 + tp3 + tp4 + tp5) / (2.0 * sa**2)


def plate_transmissivity(*, absorption) -> np.ndarray:
    """Transmissivity of one elementary layer for isotropic light (Allen et al. 1969).

    ``tau = (1 - k) exp(-k) + k**2 E1(k)`` with ``k`` the layer's absorption (sum of content times
    specific absorption coefficient, divided by N) and ``E1`` the exponential integral
    (``scipy.special.exp1``); ``tau = 1`` where ``k = 0``.
    """
    k = np.asarray(absorption, dtype=float)
    tau = np.ones_like(k)
    pos = k > 0
    kp = k[pos]
    tau[pos] = (1.0 - kp) * np.exp(-kp) + kp * kp * exp1(kp)
    return tau


def _leaf_parameters(names, values) -> np.ndarray:
    """Stack scalar / 1-D leaf parameters into a (len(names), n) array, checked finite and >= 0."""
    arrays = [np.asarray(v, dtype=float) for v in values]
    for name, a in zip(names, arrays):
        if a.ndim > 1:
            raise InvalidInputError(f"{name} must be a scalar or a 1-D array of leaves")
    try:
        params = np.stack(np.broadcast_arrays(*arrays)).reshape(len(names), -1)
    except ValueError:
        raise InvalidInputError("leaf parameters must be scalars or arrays of the same length") from None
    if not np.isfinite(params).all() or (params < 0).any():
        for name, row in zip(names, params):
            if not np.isfinite(row).all():
                raise InvalidInputError(f"{name} holds NaN or infinite values")
            if (row < 0).any():
                raise InvalidInputError(f"{name} must be >= 0")
    return params


def prospect_pro(
    *,
    n_struct,
    chlorophyll_ug_cm2,
    carotenoid_ug_cm2=0.0,
    anthocyanin_ug_cm2=0.0,
    brown=0.0,
    ewt_g_cm2=0.0,
    lma_g_cm2=0.0,
    protein_g_cm2=0.0,
    cbc_g_cm2=0.0,
    alpha_deg: float = 40.0,
    wavelength_nm=None,
    constants: OpticalConstants | None = None,
):
    """Leaf directional-hemispherical reflectance and transmittance with PROSPECT-PRO.

    Parameters
    ----------
    n_struct : leaf structure parameter N (number of elementary layers, >= 1 in practice).
    chlorophyll_ug_cm2, carotenoid_ug_cm2, anthocyanin_ug_cm2 : pigment contents (ug/cm2).
    brown : brown pigments (arbitrary units, 0-1 typically).
    ewt_g_cm2 : equivalent water thickness (g/cm2, i.e. cm of water).
    lma_g_cm2 : leaf mass per area for the PROSPECT-D mode (g/cm2); give 0 with proteins/CBC.
    protein_g_cm2, cbc_g_cm2 : proteins and carbon-based constituents (g/cm2), PROSPECT-PRO mode.
    alpha_deg : solid angle of incident light at the leaf surface (40 deg as in PROSPECT).
    wavelength_nm : wavelengths to compute (nm, within 400-2500); default 400-2500 at 1 nm.
    constants : optical constants already subset to ``wavelength_nm`` (skips the look-up).

    Every content is a scalar or a 1-D array over leaves (arrays broadcast together).

    Returns
    -------
    wavelength_nm : (L,) ; reflectance, transmittance : (L,) for scalar inputs, else (n, L).

    Notes
    -----
    Layer absorption ``k = sum(C_i K_i) / N`` (Jacquemoud & Baret 1990); elementary layer
    reflectance/transmittance from the interface transmissivities (Stern 1964) and the plate
    transmissivity with the exponential integral (Allen et al. 1969); the remaining ``N - 1``
    layers combined with Stokes' (1862) system. Giving both LMA and proteins/CBC for one leaf is
    refused: in PROSPECT-PRO, LMA is their sum.
    """
    const = constants if constants is not None else optical_constants()
    if constants is None and wavelength_nm is not None:
        const = const.subset(wavelength_nm)
    names = ("n_struct", "chlorophyll_ug_cm2", "carotenoid_ug_cm2", "anthocyanin_ug_cm2", "brown",
             "ewt_g_cm2", "lma_g_cm2", "protein_g_cm2", "cbc_g_cm2")
    values = (n_struct, chlorophyll_ug_cm2, carotenoid_ug_cm2, anthocyanin_ug_cm2, brown,
              ewt_g_cm2, lma_g_cm2, protein_g_cm2, cbc_g_cm2)
    scalar = all(np.ndim(v) == 0 for v in values)
    N, cab, car, ant, brw, cw, lma, prot, cbc = _leaf_parameters(names, values)[:, :, None]
    if np.any(N <= 0):
        raise InvalidInputError("n_struct must be > 0")
    if np.any((lma > 0) & ((prot > 0) | (cbc > 0))):
        raise InvalidInputError("give either lma_g_cm2 (PROSPECT-D) or protein_g_cm2 + cbc_g_cm2 "
                                "(PROSPECT-PRO) for a leaf, not both: LMA = proteins + CBC")
    k = (cab * const.k_chl + car * const.k_car + ant * const.k_ant + brw * const.k_brown
         + cw * const.k_water + lma * const.k_lma + prot * const.k_protein + cbc * const.k_cbc) / N
    tau = plate_transmissivity(absorption=k)

    nr = const.refractive_index
    talf, t12 = const.interfaces(alpha_deg)
    ralf = 1.0 - talf
    r12 = 1.0 - t12
    t21 = t12 / (nr * nr)
    r21 = 1.0 - t21
    # Top layer (incidence within alpha) and inner layers (isotropic, 90 deg): Allen et al. (1969).
    denom = 1.0 - r21 * r21 * tau * tau
    ta = talf * tau * t21 / denom
    ra = ralf + r21 * tau * ta
    t = t12 * tau * t21 / denom
    r = r12 + r21 * tau * t
    # Stokes (1862): reflectance and transmittance of the remaining N - 1 layers.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = np.sqrt(np.clip((1 + r + t) * (1 + r - t) * (1 - r + t) * (1 - r - t), 0.0, None))
        a = (1 + r * r - t * t + d) / (2 * r)
        b = (1 - r * r + t * t + d) / (2 * t)
        bnm1 = np.power(b, N - 1)
        bn2 = bnm1 * bnm1
        a2 = a * a
        den = a2 * bn2 - 1
        rsub = a * (bn2 - 1) / den
        tsub = bnm1 * (a2 - 1) / den
    lossless = r + t >= 1.0  # zero absorption: conservative pile of plates
    if np.any(lossless):
        tl = t / (t + (1 - t) * (N - 1))
        tsub = np.where(lossless, tl, tsub)
        rsub = np.where(lossless, 1 - tl, rsub)
    den = 1 - rsub * r
    transmittance = ta * tsub / den
    reflectance = ra + ta * rsub * t / den
    if scalar:
        return const.wavelength_nm, reflectance[0], transmittance[0]
    return const.wavelength_nm, reflectance, transmittance


def nitrogen_area_g_m2(*, protein_g_cm2, n_to_protein: float = DEFAULT_N_TO_PROTEIN):
    """Leaf nitrogen per area (g N/m2) from leaf protein content (g/cm2).

    ``N = protein / factor``, with 1 g/cm2 = 1e4 g/m2. ``n_to_protein`` is the nitrogen-to-protein
    conversion factor (g protein per g N; default 4.43 after Yeoh & Wee 1994, see the module
    constant). Works on scalars and arrays; standard deviations scale the same way.
    """
    if not n_to_protein > 0:
        raise InvalidInputError(f"n_to_protein must be > 0, got {n_to_protein!r}")
    return np.asarray(protein_g_cm2, dtype=float) * 1e4 / float(n_to_protein)


def protein_from_nitrogen_g_cm2(*, nitrogen_g_m2, n_to_protein: float = DEFAULT_N_TO_PROTEIN):
    """Inverse of :func:`nitrogen_area_g_m2`: leaf protein (g/cm2) from leaf N (g/m2)."""
    if not n_to_protein > 0:
        raise InvalidInputError(f"n_to_protein must be > 0, got {n_to_protein!r}")
    return np.asarray(nitrogen_g_m2, dtype=float) * float(n_to_protein) / 1e4


def nitrogen_mass_percent(*, protein_g_cm2, lma_g_cm2, n_to_protein: float = DEFAULT_N_TO_PROTEIN):
    """Leaf nitrogen concentration (% of dry mass): ``100 * protein / factor / LMA``."""
    lma = np.asarray(lma_g_cm2, dtype=float)
    if np.any(lma <= 0):
        raise InvalidInputError("lma_g_cm2 must be > 0 to express nitrogen per mass")
    return 100.0 * np.asarray(protein_g_cm2, dtype=float) / float(n_to_protein) / lma
