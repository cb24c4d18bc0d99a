"""The hybrid edge inversion: network where the spectrum is on the simulator's manifold, physics where it is not.

Every spectrum gets an **off-manifold score** (:func:`ood_score`) from its model input ``x``
(pseudo-absorbance and derivative on the config grid, :mod:`features`), measured against a
reference set of simulated training leaves (fixed seed, built once per process: 3 000 leaves in chunks
of 100, 3-15 s on a busy 2-core box, +20 MB):

* ``t2``: Mahalanobis distance (Hotelling T²) of ``x`` in the space of the first
  :data:`N_COMPONENTS` principal components of the simulations;
* ``q``: the squared residual of ``x`` off that subspace (the PCA "Q" statistic), i.e. the part of
  the spectrum no simulated leaf looks like;
* ``score = max(t2 / t2_99, q / q_99)``, each over its 99th percentile on the simulations: 1 means
  "as unusual as the 1 % most unusual simulated leaves".

Where the score exceeds 1, the iterative PROSPECT-PRO inversion (:mod:`baseline`: one bounded
least-squares fit per constituent over the spectral domains that carry it) is run too. That inversion fits the
structure parameter N first over the NIR plateau and SWIR windows (:func:`baseline.structure_from_fit`),
then proteins, CBC, water and chlorophyll over their optimal domains with N fixed. The two are then combined
(:func:`combine`, issue 14):

* **a spectrum that fails an input or physics check** (:func:`physics_checks`: the physics fit leaves a residual
  no simulated leaf leaves, its chemistry lies outside anything the network was trained on, or the SWIR is too
  noisy) is **led by the physics alone**, its sigma widened by the fit residual over its limit and by half the
  network/physics disagreement;
* **otherwise the two are weighed by their uncertainties** (inverse variance): the network's sigma is inflated
  for extrapolation, ``sigma_net * (1 + ramp (NETWORK_EDGE_FACTOR sqrt(score) - 1))`` — an edge factor for
  leaving the manifold times the distance (the score is a squared-distance ratio) — with the edge factor measured
  on held-out simulated leaves only (``docs/apps/leaf_nitrogen_trials/ivw_sigma.py``: 68 % coverage among simulated
  leaves with score > 1); the physics' own sigma is its error on simulations (:data:`PHYSICS_SD`); PROSPECT-PRO's
  own error on a real leaf (:data:`MODEL_ERROR_REL`, shared by both estimators) and half the disagreement
  (:data:`DISAGREEMENT_SHARE`) are added once.

**Every** SWIR leaf's sigma carries :data:`MODEL_ERROR_REL`, on the manifold too (where only the network runs):
the score says how unusual a spectrum is, not how wrong PROSPECT-PRO is on it (issue 14, stop 24). ``ramp`` goes from 0 at score 1 to 1 at score 1 + :data:`RAMP`
  so the estimate is continuous where the score crosses 1.

The network is trained on the simulator's manifold and only there is it clearly more accurate than the physics;
on leaves the simulator does not explain the weighing lets each count by its uncertainty, and costs only the
network (about 0.3 ms) on leaves the simulator explains.

**Quality**: :func:`swir_noise` estimates the spectrum's noise around the protein features
(2000-2300 nm, robust second differences). Above :data:`PROTEIN_NOISE_LIMIT` the protein features
(a few 0.001 of reflectance per g N/m²) drown in noise and protein is flagged "not resolvable".
"""

from __future__ import annotations

import functools

import numpy as np

from . import baseline as _baseline
from .features import preprocess
from .sensors import get_config

N_COMPONENTS = 12
N_REFERENCE = 3000  # the 99th percentile of Q varied 0.49-0.63 between seeds with 1 500, 0.56-0.60 with 3 000
REFERENCE_SEED = 424_242
REFERENCE_CHUNK = 100
RAMP = 0.1  # the combination switches on between score 1 and 1 + RAMP (continuity at the threshold)
# Edge factor of the network's sigma off the manifold: measured on held-out simulated leaves (drawn like training,
# with extra leaf-surface/instrument artefacts, and the independent simulation) so that +-1 sigma covers 68 % of
# those with score > 1 (docs/apps/leaf_nitrogen_trials/ivw_sigma.py); never fitted to real leaves.
NETWORK_EDGE_FACTOR = 1.9  # measured 1.89 (trimmed, 104 leaves with score > 1), 1.87 (full, 33)
# Physics-fit residual (RMS reflectance over baseline.STRUCTURE_DOMAINS_NM) above which the spectrum is unlike any
# leaf PROSPECT-PRO can make: above the largest of held-out simulated leaves drawn like training (their artefacts and
# perturbed absorption coefficients included; docs/apps/leaf_nitrogen_trials/ood_residual.py), rounded up.
RESIDUAL_LIMIT = 0.035  # 300 held-out simulated leaves (seed 5): median 0.0074, p99 0.027, max 0.034
# Chemistry no training leaf has: a physics estimate below half the simulator's lower bound or above twice its upper
# bound (simulate.BOUNDS) -- the network cannot follow it there (its outputs live inside those bounds).
CHEMISTRY_MARGIN = 2.0
# Iterative inversion RMSE on held-out simulations (models/leaf_nitrogen/manifest.json, baseline),
# rounded up: the floor of its uncertainty. Note (stop 24): these are its errors on clean simulated leaves; on leaves
# drawn like training (artefacts, perturbed coefficients; the network's sigma is measured there) the structure-fitted
# inversion has 4.7e-4 / 7.8 / 5.5e-3 / 4.8e-3 (docs/apps/leaf_nitrogen_trials/physics_sd.py). Using those moved weight
# to the network: soybean worse, basil and cottonwood better on real leaves (physics_sd_combine.py) -- not shipped.
PHYSICS_SD = {"protein_g_cm2": 1.8e-4, "chlorophyll_ug_cm2": 3.6, "ewt_g_cm2": 1.6e-3, "lma_g_cm2": 5.0e-4}
# Relative error of PROSPECT-PRO itself on a spectrum it does not explain (leaf surface, clip geometry, absorption
# coefficients calibrated on other leaves): an assumption of 25 %, kept where the physics leads alone (a failed check).
MISMATCH_REL = 0.25
# PROSPECT-PRO's own error on *every* real leaf, shared by network and physics, whatever the off-manifold score (issue
# 14, stop 24): on the 64 real leaves the N error was the same size on and off the manifold (0.26 vs 0.25 g/m² rms)
# while sigma was 2.3x smaller on it (+-1 sigma covered 44 %, +-2 sigma 81 % of the 16 on-manifold leaves), because this
# term was added only where the score fired (then at MISMATCH_REL, over-covering: rms z 0.68). Its size is fitted on real
# leaves and checked leave-one-species-out: fitted on any two species (rms z = 1) it is 0.065-0.094, and on the third
# species +-2 sigma then covers 95-100 % (docs/apps/leaf_nitrogen_trials/model_error.py); rounded up to 0.10.
# Simulated leaves carry no such error, so there it only widens (the calibrated network_only path skips it).
MODEL_ERROR_REL = 0.10
DISAGREEMENT_SHARE = 0.5
PROTEIN_NOISE_LIMIT = 0.01
NOISE_WINDOW_NM = (2000.0, 2300.0)


@functools.lru_cache(maxsize=4)
def _reference(config: str) -> dict:
    """PCA of the model inputs of simulated training leaves, and the 99th percentiles of T² and Q."""
    from .simulate import simulate_leaves

    rng = np.random.default_rng(REFERENCE_SEED)
    parts = []
    for start in range(0, N_REFERENCE, REFERENCE_CHUNK):  # in chunks: PROSPECT's temporaries scale with n
        leaves = simulate_leaves(min(REFERENCE_CHUNK, N_REFERENCE - start), rng=rng, config=config)
        parts.append(np.stack([preprocess(leaf, config=config) for leaf in leaves]).astype(float))
    x = np.concatenate(parts)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    comps = vt[:N_COMPONENTS]
    var = (s[:N_COMPONENTS] ** 2) / (len(x) - 1)
    ref = {"mean": mean, "components": comps, "var": var}
    t2, q = _stats(x, ref)
    ref["t2_99"], ref["q_99"] = float(np.percentile(t2, 99)), float(np.percentile(q, 99))
    return ref


def prepare(config: str) -> None:
    """Build the config's reference set now (a server does this at start, timings exclude it)."""
    _reference(config)


def _stats(x: np.ndarray, ref: dict) -> tuple[np.ndarray, np.ndarray]:
    d = np.atleast_2d(x) - ref["mean"]
    z = d @ ref["components"].T
    t2 = np.sum(z**2 / ref["var"], axis=1)
    q = np.sum((d - z @ ref["components"]) ** 2, axis=1)
    return t2, q


def ood_score(x, *, config: str) -> dict:
    """Off-manifold score of one model input ``x`` (or a batch): ``{"score", "t2", "q"}`` (floats or arrays)."""
    ref = _reference(config)
    t2, q = _stats(np.asarray(x, float), ref)
    score = np.maximum(t2 / ref["t2_99"], q / ref["q_99"])
    if np.ndim(x) == 1:
        return {"score": float(score[0]), "t2": float(t2[0] / ref["t2_99"]), "q": float(q[0] / ref["q_99"])}
    return {"score": score, "t2": t2 / ref["t2_99"], "q": q / ref["q_99"]}


def swir_noise(*, wavelength_nm, reflectance) -> float | None:
    """Robust noise estimate (1 sigma, reflectance) in 2000-2300 nm; None if the window is not measured.

    From second differences of the spectrum resampled to 1 nm: for white noise ``sd(d2) = sqrt(6) sd``;
    the median absolute deviation makes it insensitive to the absorption features themselves.
    """
    wl = np.asarray(wavelength_nm, float)
    lo, hi = NOISE_WINDOW_NM
    if wl[0] > lo or wl[-1] < hi:
        return None
    sel = (wl >= lo) & (wl <= hi)
    if sel.sum() < 20:
        return None
    r = np.asarray(reflectance, float)[sel]
    d2 = np.diff(r, 2)
    step = float(np.median(np.diff(wl[sel])))
    sd = 1.4826 * float(np.median(np.abs(d2 - np.median(d2)))) / np.sqrt(6.0)
    # coarser sampling averages detector pixels: express the noise per 1 nm band
    return sd * np.sqrt(max(step, 1.0))


def physics_estimate(sample) -> dict[str, float]:
    """Iterative PROSPECT-PRO inversion of one leaf in the model's output layout, with standard deviations."""
    est = _baseline.invert(wavelength_nm=sample.wavelength_nm, reflectance=sample.reflectance,
                           transmittance=sample.transmittance, fit_structure=True)
    out: dict[str, float] = {}
    for k, v in est.items():
        name = "structure_n" if k == "n_struct" else k
        out[name] = float(v)
        if name in PHYSICS_SD:
            out[f"{name}_std"] = float(np.hypot(PHYSICS_SD[name], MISMATCH_REL * abs(v)))
    return out


def physics_fit_residual(sample, phys: dict) -> float | None:
    """RMS of measured - PROSPECT-PRO at the physics estimates over the structure domains (reflectance units)."""
    from .physics import prospect_pro

    wl = np.asarray(sample.wavelength_nm, float)
    parts = [np.arange(a, b + 1.0) for a, b in _baseline.STRUCTURE_DOMAINS_NM if wl[0] <= a and wl[-1] >= b]
    need = ("structure_n", "ewt_g_cm2", "protein_g_cm2", "cbc_g_cm2")
    if not parts or any(k not in phys for k in need):
        return None
    d = np.concatenate(parts)
    cab = phys.get("chlorophyll_ug_cm2", 40.0)
    _, m, _ = prospect_pro(n_struct=phys["structure_n"], chlorophyll_ug_cm2=cab, carotenoid_ug_cm2=cab / 4.5,
                           ewt_g_cm2=phys["ewt_g_cm2"], protein_g_cm2=phys["protein_g_cm2"],
                           cbc_g_cm2=phys["cbc_g_cm2"], wavelength_nm=d)
    m = np.asarray(m, float).reshape(-1)
    return float(np.sqrt(np.mean((np.interp(d, wl, np.asarray(sample.reflectance, float)) - m) ** 2)))


def physics_checks(sample, phys: dict, *, noise: float | None) -> tuple[list[str], float | None]:
    """Input and physics-fit checks that hand a spectrum to the physics alone: (reasons, fit residual)."""
    from .simulate import BOUNDS

    reasons = []
    resid = physics_fit_residual(sample, phys)
    if resid is not None and resid > RESIDUAL_LIMIT:
        reasons.append(f"PROSPECT-PRO fit residual {resid:.3f} (no simulated leaf above {RESIDUAL_LIMIT:g})")
    for k in ("ewt_g_cm2", "protein_g_cm2", "lma_g_cm2"):
        lo, hi = BOUNDS[k]
        v = phys.get(k)
        if v is not None and not lo / CHEMISTRY_MARGIN <= v <= hi * CHEMISTRY_MARGIN:
            name = {"ewt_g_cm2": "water (EWT)", "protein_g_cm2": "protein", "lma_g_cm2": "dry matter (LMA)"}[k]
            reasons.append(f"{name} {v:.2g} g/cm² by the physics, outside any training leaf's {lo:g}-{hi:g}")
    if noise is not None and noise > PROTEIN_NOISE_LIMIT:
        reasons.append(f"SWIR noise {noise:.3f}")
    return reasons, resid


def combine(net: dict, phys: dict, *, score: float, hard: bool = False, widen: float = 1.0) -> tuple[dict, float]:
    """Network and physics estimates of one leaf -> (combined outputs, physics weight of protein).

    ``hard``: physics alone (a check failed), its sigma x ``widen`` (+) the whole network/physics disagreement.
    Else the uncertainty-weighted mean of the module docstring. Keys without a sigma take protein's weights.
    """
    out = dict(net)
    ramp = float(np.clip((score - 1.0) / RAMP, 0.0, 1.0))
    if hard:
        ramp = 1.0
    inflate = 1.0 + ramp * (NETWORK_EDGE_FACTOR * np.sqrt(max(score, 1.0)) - 1.0)
    weights = {}
    for k in ("protein_g_cm2", "chlorophyll_ug_cm2", "ewt_g_cm2", "lma_g_cm2"):
        if k not in phys or k not in net or f"{k}_std" not in net:
            continue
        vm, vp = net[k], phys[k]
        if hard:
            w = 0.0
            sd = np.hypot(widen * phys[f"{k}_std"], vm - vp)  # the whole disagreement: either may be right
        else:
            s_n, s_p = net[f"{k}_std"] * inflate, PHYSICS_SD[k]
            w = 1.0 - ramp * (1.0 - (s_p**2 / (s_n**2 + s_p**2)))  # network weight
            m = w * vm + (1 - w) * vp
            sd = np.sqrt(w**2 * s_n**2 + (1 - w) ** 2 * s_p**2 + (MODEL_ERROR_REL * m) ** 2
                         + ramp * (DISAGREEMENT_SHARE * (vm - vp)) ** 2)
        out[k] = float(w * vm + (1 - w) * vp)
        out[f"{k}_std"] = float(sd)
        weights[k] = w
    w_p = weights.get("protein_g_cm2", 0.0 if hard else 1.0 - ramp)
    if "structure_n" in phys and "structure_n" in net:
        out["structure_n"] = float(w_p * net["structure_n"] + (1 - w_p) * phys["structure_n"])
    return out, 1.0 - w_p


def with_model_error(outputs: dict) -> dict:
    """Network outputs on the manifold with PROSPECT-PRO's own error on a real leaf (:data:`MODEL_ERROR_REL`) added
    to the sigma of each constituent :func:`combine` weighs -- the same term, so sigma is continuous at score 1."""
    out = dict(outputs)
    for k in PHYSICS_SD:
        if k in out and f"{k}_std" in out:
            out[f"{k}_std"] = float(np.hypot(out[f"{k}_std"], MODEL_ERROR_REL * out[k]))
    return out


def _scalar(v):
    return float(np.asarray(v, float).reshape(-1)[0])


def hybrid_outputs(outputs: dict, sample, *, config: str, x=None) -> tuple[dict, dict]:
    """Network outputs of one leaf -> (hybrid outputs, info).

    ``info``: ``ood_score``, ``ood_t2``, ``ood_q`` (each relative to the 99th percentile of simulated
    leaves), ``physics_weight`` (protein's: 0 network only ... 1 physics only), ``physics_led`` (weight > 0.5),
    ``physics_residual`` and ``unlike_any_leaf`` (the failed checks of :func:`physics_checks`, physics alone),
    ``swir_noise`` and ``protein_resolvable``.
    """
    c = get_config(config)
    if x is None:
        x = preprocess(sample, config=config)
    ood = ood_score(x, config=config)
    out = {k: _scalar(v) for k, v in outputs.items()}
    noise = swir_noise(wavelength_nm=sample.wavelength_nm, reflectance=sample.reflectance)
    resolvable = bool(c.supports_protein and (noise is None or noise <= PROTEIN_NOISE_LIMIT))
    w = float(np.clip((ood["score"] - 1.0) / RAMP, 0.0, 1.0))
    info = {"ood_score": ood["score"], "ood_t2": ood["t2"], "ood_q": ood["q"], "physics_weight": 0.0,
            "physics_led": False, "physics_residual": None, "unlike_any_leaf": [], "swir_noise": noise,
            "protein_resolvable": resolvable}
    if w > 0 and sample.meta.get("network_only"):
        # the user chose the network (e.g. calibrated on their own leaves): report, do not override
        info["network_only"] = True
    elif c.supports_protein and w == 0 and not sample.meta.get("network_only"):
        out = with_model_error(out)
    elif w > 0 and c.supports_protein:
        phys = physics_estimate(sample)
        reasons, resid = physics_checks(sample, phys, noise=noise)
        widen = max(1.0, (resid or 0.0) / RESIDUAL_LIMIT) if reasons else 1.0
        out, wp = combine(out, phys, score=ood["score"], hard=bool(reasons), widen=widen)
        info.update(physics_weight=wp, physics_led=wp > 0.5, physics_residual=resid, unlike_any_leaf=reasons)
    elif w > 0:
        # no physics inversion can help (VNIR): keep the network, widen its intervals with the score
        for k in list(out):
            if k.endswith("_std"):
                out[k] *= float(np.sqrt(ood["score"]))
    return out, info
