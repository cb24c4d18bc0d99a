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

import numpy as np

from .io import LeafSpectrum
from .physics import DEFAULT_N_TO_PROTEIN, nitrogen_area_g_m2, optical_constants, prospect_pro
from .sensors import measure

TRAIT_NAMES = ("n_struct", "chlorophyll_ug_cm2", "carotenoid_ug_cm2", "anthocyanin_ug_cm2", "brown",
               "ewt_g_cm2", "protein_g_cm2", "cbc_g_cm2")

# Simulation bounds (also the targets' declared ranges).
BOUNDS = {
    "n_struct": (1.05, 2.8),
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


def forward(traits: dict[str, np.ndarray], *, chunk: int = 2000):
    """PROSPECT-PRO reflectance and transmittance (n, 2101) at 1 nm for a dict of trait arrays."""
    const = optical_constants()
    n = len(traits["n_struct"])
    refl = np.empty((n, len(const.wavelength_nm)))
    tran = np.empty_like(refl)
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        _, refl[sl], tran[sl] = prospect_pro(constants=const, **{k: np.asarray(traits[k])[sl] for k in TRAIT_NAMES})
    return const.wavelength_nm, refl, tran


def simulate_leaves(n: int, *, rng: np.random.Generator, config: str, shift: dict | None = None,
                    noise_scale=None, prefix: str = "sim") -> list[LeafSpectrum]:
    """``n`` simulated measured leaves for a sensor config: prior -> PROSPECT-PRO -> instrument."""
    traits = sample_traits(n, rng=rng, shift=shift)
    _, refl, _ = forward(traits)
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
    leaves = simulate_leaves(n, rng=rng, config=config, shift=SITE_SHIFT, prefix="site")
    labels = {}
    for leaf in leaves:
        leaf.reflectance = (SITE_GAIN * leaf.reflectance + SITE_OFFSET).astype(np.float32)
        n_true = float(nitrogen_area_g_m2(protein_g_cm2=leaf.truth["protein_g_cm2"], n_to_protein=n_to_protein))
        labels[leaf.sample] = n_true * float(1.0 + lab_noise * rng.standard_normal())
    return leaves, labels
