"""The classical baseline: iterative numerical inversion of PROSPECT-PRO over optimal spectral domains.

This is the procedure of Féret et al. (2021) as released in their R package ``prospect``
(``invert_prospect_opt``; optimal domains in ``optimal_domains_rt``): each constituent is estimated
by a separate bounded least-squares fit of the model to the measured spectrum restricted to the
sub-domain where that constituent is best retrieved, with the pigments set to zero in the SWIR
fits:

* chlorophyll: 700-720 nm, free chlorophyll, carotenoids, anthocyanins (PROSPECT-D, EWT = LMA = 0.01);
* proteins: 2100-2139 and 2160-2179 nm, free EWT, proteins, CBC (PROSPECT-PRO);
* CBC: 1480-1499, 1560-1579, 1760-1799, 2040-2059, 2120-2139, 2160-2239, 2260-2279, 2340-2359 and
  2380-2399 nm, same free parameters (LMA = proteins + CBC);
* EWT: 1700-2400 nm, same free parameters.

The structure parameter N is fitted along when transmittance is measured; with reflectance only it
is fixed beforehand by the prior of Spafford et al. (2021, Remote Sens. Environ. 252, 112176): a
linear regression of N on ``R / (1 - R)`` at 1131 nm (800 nm when the SWIR is missing), fitted on a
look-up table of 1000 PROSPECT-D leaves. Note: the issue text listed a shorter CBC domain; the one
used here is the authors' own list from the package (``prospect`` v2, data-raw/create_sysdata.R).
Bounds follow the package defaults.

``invert(..., fit_structure=True)`` (used by the hybrid edge path, :mod:`hybrid`) fits N instead of
taking the prior: one bounded fit of N, EWT and LMA (PROSPECT-D, pigments at zero) over
:data:`STRUCTURE_DOMAINS_NM` — the NIR plateau, where N alone sets the level, plus the SWIR
windows between the water bands — then the constituent fits above with that N fixed. Fitting N
together with proteins inside the narrow protein domain is ill-posed (measured on real leaves: N R²
fell from +0.58 to -0.53); fitting it first over these wide domains raised it to +0.66. Solver: ``scipy.optimize.least_squares`` (trust-region
reflective), residuals = model - measurement (same minimiser as the package's RMSE merit function).
"""

from __future__ import annotations

import functools

import numpy as np

from .physics import WAVELENGTH_MAX_NM, WAVELENGTH_MIN_NM, optical_constants, prospect_pro

OPTIMAL_DOMAINS_NM: dict[str, tuple[tuple[int, int], ...]] = {
    "chlorophyll": ((700, 720),),
    "protein": ((2100, 2139), (2160, 2179)),
    "cbc": ((1480, 1499), (1560, 1579), (1760, 1799), (2040, 2059), (2120, 2139), (2160, 2239),
            (2260, 2279), (2340, 2359), (2380, 2399)),
    "ewt": ((1700, 2400),),
}
# (lower, upper) bounds and scale of each free parameter (prospect package defaults).
PARAMS = {
    "chlorophyll_ug_cm2": (1e-4, 150.0, 10.0),
    "carotenoid_ug_cm2": (1e-4, 25.0, 2.0),
    "anthocyanin_ug_cm2": (0.0, 50.0, 1.0),
    "ewt_g_cm2": (1e-8, 0.1, 0.01),
    "protein_g_cm2": (1e-7, 0.006, 0.001),
    "cbc_g_cm2": (1e-6, 0.054, 0.005),
    "n_struct": (0.5, 4.0, 1.0),
}
INIT = {"chlorophyll_ug_cm2": 40.0, "carotenoid_ug_cm2": 10.0, "anthocyanin_ug_cm2": 0.1, "ewt_g_cm2": 0.01,
        "protein_g_cm2": 0.001, "cbc_g_cm2": 0.009, "n_struct": 1.5}
N_PRIOR_NM = (1131, 800)
STRUCTURE_DOMAINS_NM = ((800, 1300), (1500, 1800), (2050, 2400))


def least_squares(*args, **kwargs):
    """``scipy.optimize.least_squares``, imported on first use (~23 MB resident): every serving process loads
    every app, and only leaf-nitrogen's inversion needs it."""
    from scipy.optimize import least_squares as solve

    return solve(*args, **kwargs)


def _domain_nm(name: str) -> np.ndarray:
    return np.concatenate([np.arange(a, b + 1) for a, b in OPTIMAL_DOMAINS_NM[name]]).astype(float)


def covers(wavelength_nm, domain_nm) -> bool:
    wl = np.asarray(wavelength_nm, float)
    return bool(wl[0] <= domain_nm.min() + 1e-9 and wl[-1] >= domain_nm.max() - 1e-9)


@functools.lru_cache(maxsize=4)
def _n_prior_model(wavelength_nm: int) -> tuple[float, float]:
    """Slope and intercept of N = a * R/(1-R) + b at one band (Spafford et al. 2021).

    The look-up table (1000 PROSPECT-D leaves, uniform chl 0.5-100.5, car 0.5-20.5, EWT 0.001-0.021,
    LMA 0.001-0.011, N 1-2.5 as in the prospect package) uses a fixed seed so the prior is
    reproducible.
    """
    rng = np.random.default_rng(2021)
    n = 1000
    nstr = 1.0 + 1.5 * rng.random(n)
    _, r, _ = prospect_pro(n_struct=nstr, chlorophyll_ug_cm2=0.5 + 100 * rng.random(n),
                           carotenoid_ug_cm2=0.5 + 20 * rng.random(n), ewt_g_cm2=0.001 + 0.02 * rng.random(n),
                           lma_g_cm2=0.001 + 0.01 * rng.random(n), wavelength_nm=[wavelength_nm])
    ratio = r[:, 0] / (1 - r[:, 0])
    slope, intercept = np.polyfit(ratio, nstr, 1)
    return float(slope), float(intercept)


def n_prior(*, wavelength_nm, reflectance) -> float | None:
    """Prior N from reflectance at 1131 nm (or 800 nm); None if neither band is measured."""
    wl = np.asarray(wavelength_nm, float)
    for band in N_PRIOR_NM:
        if wl[0] <= band <= wl[-1]:
            r = float(np.interp(band, wl, reflectance))
            r = min(max(r, 1e-4), 0.95)
            a, b = _n_prior_model(band)
            lo, hi, _ = PARAMS["n_struct"]
            return float(np.clip(a * r / (1 - r) + b, lo, hi))
    return None


def _fit(*, wl_fit, refl, tran, free, fixed, init):
    const = optical_constants().subset(wl_fit)
    names = list(free)
    lo = np.array([PARAMS[k][0] for k in names])
    hi = np.array([PARAMS[k][1] for k in names])
    scale = np.array([PARAMS[k][2] for k in names])
    x0 = np.clip(np.array([init[k] for k in names]), lo, hi) / scale

    def residuals(x):
        p = dict(fixed)
        p.update(zip(names, x * scale))
        _, r, t = prospect_pro(constants=const, **p)
        res = r - refl
        return res if tran is None else np.concatenate([res, t - tran])

    sol = least_squares(residuals, x0, bounds=(lo / scale, hi / scale), method="trf", x_scale=1.0,
                        diff_step=1e-4, xtol=1e-8, ftol=1e-10, max_nfev=200)
    return dict(zip(names, sol.x * scale)), sol


def structure_from_fit(*, wavelength_nm, reflectance) -> float | None:
    """N from a PROSPECT-D fit (N, EWT, LMA free; pigments zero) over :data:`STRUCTURE_DOMAINS_NM`.

    Only the domains the spectrum covers are used; None if it covers none of the NIR plateau.
    """
    wl = np.asarray(wavelength_nm, float)
    parts = [np.arange(a, b + 1.0) for a, b in STRUCTURE_DOMAINS_NM if wl[0] <= a and wl[-1] >= b]
    if not parts or not (wl[0] <= STRUCTURE_DOMAINS_NM[0][0] and wl[-1] >= STRUCTURE_DOMAINS_NM[0][1]):
        return None
    d = np.concatenate(parts)
    const = optical_constants().subset(d)
    r_d = np.interp(d, wl, np.asarray(reflectance, float))

    def residuals(x):
        _, r, _ = prospect_pro(constants=const, n_struct=x[0], chlorophyll_ug_cm2=0.0, ewt_g_cm2=0.01 * x[1],
                               lma_g_cm2=0.005 * x[2])
        return r - r_d

    lo, hi, _ = PARAMS["n_struct"]
    sol = least_squares(residuals, [1.5, 1.5, 1.0], bounds=([max(lo, 1.0), 0.01, 0.02], [hi, 10.0, 6.0]),
                        method="trf", diff_step=1e-4, xtol=1e-8, ftol=1e-10, max_nfev=200)
    return float(sol.x[0])


def invert(*, wavelength_nm, reflectance, transmittance=None, fit_structure: bool = False) -> dict[str, float]:
    """Invert PROSPECT-PRO on one measured leaf; returns the estimated traits (physical units).

    Keys (when the measured range allows them): ``chlorophyll_ug_cm2``, ``protein_g_cm2``,
    ``cbc_g_cm2``, ``lma_g_cm2``, ``ewt_g_cm2``, ``n_struct``. ``fit_structure``: N fitted first
    (:func:`structure_from_fit`) instead of the reflectance prior (reflectance-only leaves).
    """
    wl = np.asarray(wavelength_nm, float)
    refl = np.asarray(reflectance, float)
    tran = None if transmittance is None else np.asarray(transmittance, float)
    n0 = n_prior(wavelength_nm=wl, reflectance=refl)
    if fit_structure and tran is None:
        n0 = structure_from_fit(wavelength_nm=wl, reflectance=refl) or n0
    fit_n = tran is not None
    n_fixed = n0 if n0 is not None else INIT["n_struct"]
    out: dict[str, float] = {}
    zeros = {"chlorophyll_ug_cm2": 0.0, "carotenoid_ug_cm2": 0.0, "anthocyanin_ug_cm2": 0.0, "brown": 0.0}
    n_estimates = []

    def run(domain, free, fixed):
        d = _domain_nm(domain)
        d = d[(d >= WAVELENGTH_MIN_NM) & (d <= WAVELENGTH_MAX_NM)]
        r_d = np.interp(d, wl, refl)
        t_d = None if tran is None else np.interp(d, wl, tran)
        free = list(free) + (["n_struct"] if fit_n else [])
        fixed = dict(fixed) if fit_n else {**fixed, "n_struct": n_fixed}
        init = {**INIT, "n_struct": n_fixed}
        est, _ = _fit(wl_fit=d, refl=r_d, tran=t_d, free=free, fixed=fixed, init=init)
        if fit_n:
            n_estimates.append(est["n_struct"])
        return est

    if covers(wl, _domain_nm("chlorophyll")):
        est = run("chlorophyll", ["chlorophyll_ug_cm2", "carotenoid_ug_cm2", "anthocyanin_ug_cm2"],
                  {"brown": 0.0, "ewt_g_cm2": 0.01, "lma_g_cm2": 0.01})
        out["chlorophyll_ug_cm2"] = est["chlorophyll_ug_cm2"]
    swir = ["ewt_g_cm2", "protein_g_cm2", "cbc_g_cm2"]
    if covers(wl, _domain_nm("protein")):
        out["protein_g_cm2"] = run("protein", swir, zeros)["protein_g_cm2"]
    if covers(wl, _domain_nm("cbc")):
        out["cbc_g_cm2"] = run("cbc", swir, zeros)["cbc_g_cm2"]
        if "protein_g_cm2" in out:
            out["lma_g_cm2"] = out["protein_g_cm2"] + out["cbc_g_cm2"]
    if covers(wl, _domain_nm("ewt")):
        out["ewt_g_cm2"] = run("ewt", swir, zeros)["ewt_g_cm2"]
    if n_estimates:
        out["n_struct"] = float(np.median(n_estimates))
    elif n0 is not None:
        out["n_struct"] = n0
    return {k: float(v) for k, v in out.items()}
