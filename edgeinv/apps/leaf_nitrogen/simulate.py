"""Realistic, correlated leaf-trait distributions and simulated leaf spectra for training and testing.

The traits are drawn jointly, as they co-vary in real crop leaves, rather than independently:

* leaf mass per area (LMA) log-normal, median 45 g/m2 (crop leaves 15-150 g/m2);
* the protein share of LMA normal around 0.15 (leaf N 1.5-6 % of dry mass with the 4.43 factor),
  so proteins = share x LMA and CBC = LMA - proteins (Féret et al. 2021: LMA = proteins + CBC);
* chlorophyll from leaf nitrogen per area through the chlorophyll/N ratio of C3 leaves, log-normal
  around 3.5 mmol Chl per mol N (Evans 1989, Oecologia 78:9-19): Cab ~ 22 ug/cm2 per g N/m2;
* carotenoids 17-30 % of chlorophyll; anthocyanins small (exponential, mean 0.8 ug/cm2); brown
  pigments in 15 % of leaves (senescent spots);
* water from LMA through the water/dry-mass ratio (log-normal around 3.8, crop leaves 70-88 % water);
* the structure parameter N rising with LMA (thicker leaves, more internal interfaces).

The ranges follow the leaf data sets used to build and test PROSPECT (ANGERS, LOPEX; Féret et al.
2017, 2021) restricted to green crop leaves.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .io import LeafSpectrum
from .physics import DEFAULT_N_TO_PROTEIN, nitrogen_area_g_m2, optical_constants, prospect_pro
from .sensors import measure

TRAIT_NAMES = ("n_struct", "chlorophyll_ug_cm2", "carotenoid_ug_cm2", "anthocyanin_ug_cm2", "brown",
               "ewt_g_cm2", "protein_g_cm2", "cbc_g_cm2")

# Simulation bounds (also the targets' declared ranges).
BOUNDS = {
    "n_struct": (1.0, 2.8),  # PROSPECT needs N >= 1 (one plate); the broad prior reaches 1.0
    "chlorophyll_ug_cm2": (5.0, 90.0),
    "carotenoid_ug_cm2": (1.0, 25.0),
    "anthocyanin_ug_cm2": (0.0, 8.0),
    "brown": (0.0, 0.5),
    "ewt_g_cm2": (0.003, 0.05),
    "protein_g_cm2": (1e-4, 3e-3),
    "lma_g_cm2": (1.5e-3, 1.5e-2),
}
CHL_MG_PER_MMOL = 893.5  # chlorophyll a molar mass (g/mol = mg/mmol)
N_G_PER_MOL = 14.007


def chlorophyll_from_nitrogen(*, nitrogen_g_m2, chl_per_n_mmol_mol=3.5):
    """Leaf chlorophyll (ug/cm2) for a leaf N per area (g/m2) and a Chl/N ratio (mmol/mol).

    ``Cab = N / 14.007 * ratio * 893.5 / 10`` (mol N/m2 -> mmol Chl/m2 -> mg/m2 -> ug/cm2); the ratio
    of C3 leaves is about 2.5-4.5 mmol/mol (Evans 1989).
    """
    return np.asarray(nitrogen_g_m2, float) / N_G_PER_MOL * chl_per_n_mmol_mol * CHL_MG_PER_MMOL / 10.0


def sample_traits(n: int, *, rng: np.random.Generator, n_to_protein: float = DEFAULT_N_TO_PROTEIN,
                  shift: dict | None = None) -> dict[str, np.ndarray]:
    """Draw ``n`` leaves from the correlated prior; returns trait arrays (see module docstring).

    ``shift`` optionally moves the prior (for the fine-tuning stand-in of "another site"):
    ``{"protein_share": +0.03, "chl_per_n": 0.8, "lma_factor": 1.2}``.
    """
    shift = shift or {}
    lo, hi = BOUNDS["lma_g_cm2"]
    lma = np.clip(rng.lognormal(np.log(0.0045 * shift.get("lma_factor", 1.0)), 0.35, n), lo, hi)
    share = np.clip(rng.normal(0.15 + shift.get("protein_share", 0.0), 0.045, n), 0.05, 0.30)
    protein = np.clip(share * lma, *BOUNDS["protein_g_cm2"])
    cbc = lma - protein
    n_area = nitrogen_area_g_m2(protein_g_cm2=protein, n_to_protein=n_to_protein)
    ratio = rng.lognormal(np.log(3.5 * shift.get("chl_per_n", 1.0)), 0.25, n)
    cab = np.clip(chlorophyll_from_nitrogen(nitrogen_g_m2=n_area, chl_per_n_mmol_mol=ratio),
                  *BOUNDS["chlorophyll_ug_cm2"])
    car = np.clip(cab * rng.uniform(0.17, 0.30, n), *BOUNDS["carotenoid_ug_cm2"])
    ant = np.clip(rng.exponential(0.8, n), *BOUNDS["anthocyanin_ug_cm2"])
    brown = np.where(rng.random(n) < 0.15, rng.uniform(0.0, 0.5, n), 0.0)
    ewt = np.clip(lma * rng.lognormal(np.log(3.8), 0.25, n), *BOUNDS["ewt_g_cm2"])
    n_struct = np.clip(1.2 + 0.35 * lma / 0.0045 + rng.normal(0.0, 0.15, n), *BOUNDS["n_struct"])
    return {"n_struct": n_struct, "chlorophyll_ug_cm2": cab, "carotenoid_ug_cm2": car,
            "anthocyanin_ug_cm2": ant, "brown": brown, "ewt_g_cm2": ewt, "protein_g_cm2": protein,
            "cbc_g_cm2": cbc, "lma_g_cm2": protein + cbc}


# Absorption-coefficient uncertainty (issue 14). PROSPECT-PRO's specific absorption spectra were calibrated on
# a few leaf sets; on real leaves the protein estimate errs with the leaf's water per dry mass and the carbon
# share of its dry matter (measured, docs/apps/leaf_nitrogen.md), i.e. as if the water and CBC spectra were
# off. A share of the training leaves get their water and CBC absorption spectra multiplied by a smooth random
# polynomial in wavelength (coefficients N(0, sd) on 1, t, t^2 - 1/3, t^3 - 0.6 t over 400-2500 nm, factor
# floored at 0.3), so the network reads protein from features that survive such errors. Measured: network
# bias on the 64 real leaves +0.55 / +0.63 / +0.14 -> see the docs; independent simulation unchanged.
COEF_SHARE = 0.8
COEF_SD = {"k_water": (0.20, 3), "k_cbc": (0.50, 4)}  # constant -> (sd of each coefficient, polynomial terms)
COEF_FLOOR = 0.3


def perturbed_constants(n: int, *, rng: np.random.Generator, share: float = COEF_SHARE):
    """The optical constants with per-leaf (n, 2101) water and CBC spectra, perturbed on ``share`` of the leaves."""
    const = optical_constants()
    t = (const.wavelength_nm - 1450.0) / 1050.0
    basis = np.stack([np.ones_like(t), t, t * t - 1.0 / 3.0, t**3 - 0.6 * t])
    hit = (rng.random(n) < share)[:, None]
    changes = {}
    for name, (sd, terms) in COEF_SD.items():
        factor = 1.0 + hit * (rng.normal(0.0, sd, (n, terms)) @ basis[:terms])
        changes[name] = getattr(const, name)[None, :] * np.clip(factor, COEF_FLOOR, None)
    return dataclasses.replace(const, **changes)


def forward(traits: dict[str, np.ndarray], *, chunk: int = 2000, coefficient_rng: np.random.Generator | None = None):
    """PROSPECT-PRO reflectance and transmittance (n, 2101) at 1 nm for a dict of trait arrays.

    ``coefficient_rng``: draw the absorption-coefficient uncertainty (:func:`perturbed_constants`) with it;
    None = the published constants for every leaf.
    """
    const = optical_constants()
    n = len(traits["n_struct"])
    refl = np.empty((n, len(const.wavelength_nm)))
    tran = np.empty_like(refl)
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        c = const if coefficient_rng is None else perturbed_constants(len(range(*sl.indices(n))), rng=coefficient_rng)
        _, refl[sl], tran[sl] = prospect_pro(constants=c, **{k: np.asarray(traits[k])[sl] for k in TRAIT_NAMES})
    return const.wavelength_nm, refl, tran


def sample_traits_broad(n: int, *, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw ``n`` leaves from a broad, decorrelated prior (each trait on its own over wide bounds).

    The correlated prior (:func:`sample_traits`) teaches the network the co-variation of crop
    leaves, and that co-variation leaks into its estimates for leaves that do not follow it (a
    low-chlorophyll leaf rich in protein, a thin leaf with many layers). Mixed into training
    (:data:`BROAD_SHARE`), this prior makes the spectrum, not the prior, carry the estimate:
    structure N uniform 1.0-2.6, chlorophyll uniform 5-90 ug/cm2 with carotenoids 10-40 % of it,
    EWT and CBC log-uniform, proteins uniform 0.0001-0.003 g/cm2, independent of each other.
    """
    lo_p, hi_p = BOUNDS["protein_g_cm2"]
    protein = rng.uniform(lo_p, hi_p, n)
    cbc = np.exp(rng.uniform(np.log(1.2e-3), np.log(1.3e-2), n))
    lma = np.clip(protein + cbc, *BOUNDS["lma_g_cm2"])
    cbc = np.maximum(lma - protein, 1e-5)
    cab = rng.uniform(*BOUNDS["chlorophyll_ug_cm2"], n)
    return {"n_struct": rng.uniform(1.0, 2.6, n), "chlorophyll_ug_cm2": cab,
            "carotenoid_ug_cm2": np.clip(cab * rng.uniform(0.10, 0.40, n), *BOUNDS["carotenoid_ug_cm2"]),
            "anthocyanin_ug_cm2": np.clip(rng.exponential(1.0, n), *BOUNDS["anthocyanin_ug_cm2"]),
            "brown": np.where(rng.random(n) < 0.2, rng.uniform(0.0, 0.5, n), 0.0),
            "ewt_g_cm2": np.exp(rng.uniform(np.log(BOUNDS["ewt_g_cm2"][0]), np.log(BOUNDS["ewt_g_cm2"][1]), n)),
            "protein_g_cm2": protein, "cbc_g_cm2": cbc, "lma_g_cm2": protein + cbc}


# Share of training leaves drawn from the broad prior. A 50/50 mix cut the protein error on an
# independent simulation (ordinary uniform priors) without hurting the correlated prior's own
# held-out leaves (issue 14; measured again in docs/apps/leaf_nitrogen.md).
BROAD_SHARE = 0.5
# VNIR spectra carry no protein feature: their nitrogen rests entirely on the prior's Cab-N relation,
# which a mostly decorrelated prior removes (held-out N NRMSE 61 % with 0.5), so VNIR mixes in less.
BROAD_SHARE_BY_CONFIG = {"vnir": 0.2}


def sample_traits_mixed(n: int, *, rng: np.random.Generator, broad_share: float = BROAD_SHARE,
                        shift: dict | None = None) -> dict[str, np.ndarray]:
    """The training prior: each leaf from the broad prior with probability ``broad_share``, else correlated."""
    real = sample_traits(n, rng=rng, shift=shift)
    if broad_share <= 0:
        return real
    broad = sample_traits_broad(n, rng=rng)
    pick = rng.random(n) < broad_share
    return {k: np.where(pick, broad[k], real[k]) for k in real}


# Instrument and leaf-surface artefacts real leaf-clip / integrating-sphere spectra show and the
# plate model does not: specular (first-surface) reflection adds a nearly flat offset that brightens
# the strongly absorbing SWIR in relative terms; lamp/panel drift and clip geometry give smooth,
# wavelength-dependent gains. Applied to ARTEFACT_SHARE of the simulated leaves before the
# instrument model (which adds its own noise, gain, offset and splice steps).
ARTEFACT_SHARE = 0.6
SPECULAR_MAX = 0.03
SMOOTH_GAIN_SD = 0.02
WHITE_NOISE_SHARE = 0.6  # leaves that also get plain white noise (1 % multiplicative, 0.002 additive at most)


def leaf_artefacts(reflectance_1nm, *, rng: np.random.Generator, share: float = ARTEFACT_SHARE) -> np.ndarray:
    """Add specular offsets and smooth gains to ``share`` of the (n, 2101) 1 nm spectra (400-2500 nm)."""
    r = np.array(reflectance_1nm, dtype=float, copy=True)
    n = r.shape[0]
    hit = rng.random(n) < share
    t = (np.arange(r.shape[1]) - 1050.0) / 1050.0  # -1 at 400 nm, +1 at 2500 nm
    spec = np.where(hit, rng.uniform(0.0, SPECULAR_MAX, n), 0.0)[:, None]
    c1 = np.where(hit, rng.normal(0.0, SMOOTH_GAIN_SD, n), 0.0)[:, None]
    c2 = np.where(hit, rng.normal(0.0, SMOOTH_GAIN_SD, n), 0.0)[:, None]
    gain = 1.0 + c1 * t[None, :] + c2 * (t[None, :] ** 2 - 1.0 / 3.0)
    r = r * gain + spec
    white = rng.random(n) < WHITE_NOISE_SHARE
    if white.any():
        k = int(white.sum())
        mult = rng.uniform(0.0, 0.01, (k, 1)) * rng.standard_normal((k, r.shape[1]))
        add = rng.uniform(0.0, 0.002, (k, 1)) * rng.standard_normal((k, r.shape[1]))
        r[white] = r[white] * (1.0 + mult) + add
    return np.clip(r, 1e-4, 0.99)


def simulate_leaves(n: int, *, rng: np.random.Generator, config: str, shift: dict | None = None,
                    noise_scale=None, prefix: str = "sim", prior: str = "mixed",
                    artefacts: bool = True, coefficients: bool = True) -> list[LeafSpectrum]:
    """``n`` simulated measured leaves for a sensor config: prior -> PROSPECT-PRO -> artefacts -> instrument.

    ``prior``: ``"mixed"`` (training: :func:`sample_traits_mixed`), ``"realistic"`` (the correlated
    crop-leaf prior only) or ``"broad"``. ``artefacts``: add :func:`leaf_artefacts`. ``coefficients``:
    absorption-coefficient uncertainty (:func:`perturbed_constants`).
    """
    if prior == "mixed":
        traits = sample_traits_mixed(n, rng=rng, shift=shift, broad_share=BROAD_SHARE_BY_CONFIG.get(config, BROAD_SHARE))
    elif prior == "realistic":
        traits = sample_traits(n, rng=rng, shift=shift)
    elif prior == "broad":
        traits = sample_traits_broad(n, rng=rng)
    else:
        raise ValueError(f"prior must be mixed, realistic or broad; got {prior!r}")
    _, refl, _ = forward(traits, coefficient_rng=rng if coefficients else None)
    if artefacts:
        refl = leaf_artefacts(refl, rng=rng)
    measured = measure(reflectance_1nm=refl, config=config, rng=rng, noise_scale=noise_scale)
    leaves = []
    for i, (wl, r) in enumerate(measured):
        truth = {k: float(v[i]) for k, v in traits.items()}
        leaves.append(LeafSpectrum(sample=f"{prefix}{i:05d}", wavelength_nm=wl, reflectance=r.astype(np.float32),
                                   source="simulated", truth=truth, meta={"config": config}))
    return leaves


# A stand-in for "real leaves from another site": a cultivar with less chlorophyll per unit N and
# more protein per unit dry mass than the training prior, measured through a leaf clip whose
# calibration differs (3 % darker, small offset). Used to show what fine-tuning on a few labelled
# leaves buys; these are simulations, not real measurements.
SITE_SHIFT = {"chl_per_n": 0.75, "protein_share": 0.03, "lma_factor": 1.1}
SITE_GAIN, SITE_OFFSET = 0.97, 0.004


def simulate_site(n: int, *, rng: np.random.Generator, config: str, lab_noise: float = 0.03,
                  n_to_protein: float = DEFAULT_N_TO_PROTEIN) -> tuple[list[LeafSpectrum], dict[str, float]]:
    """Leaves from the shifted "site" (:data:`SITE_SHIFT`) and their lab-measured N (g/m2).

    The lab value carries a relative measurement error of ``lab_noise`` (1 sigma, e.g. Dumas
    combustion plus leaf-disc area). Returns ``(leaves, {sample: nitrogen_g_m2})``.
    """
    leaves = simulate_leaves(n, rng=rng, config=config, shift=SITE_SHIFT, prefix="site", prior="realistic",
                             artefacts=False, coefficients=False)
    labels = {}
    for leaf in leaves:
        leaf.reflectance = (SITE_GAIN * leaf.reflectance + SITE_OFFSET).astype(np.float32)
        n_true = float(nitrogen_area_g_m2(protein_g_cm2=leaf.truth["protein_g_cm2"], n_to_protein=n_to_protein))
        labels[leaf.sample] = n_true * float(1.0 + lab_noise * rng.standard_normal())
    return leaves, labels
