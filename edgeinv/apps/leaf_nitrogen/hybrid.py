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
least-squares fit per constituent over the spectral domains that carry it) takes the lead,
linearly from score 1 (network only) to 1 + :data:`RAMP` (physics only). That inversion fits the
structure parameter N first over the NIR plateau and SWIR windows (:func:`baseline.structure_from_fit`),
then proteins, CBC, water and chlorophyll over their optimal domains with N fixed. Its standard
deviation combines its error on simulations with a model-mismatch term (:data:`MISMATCH_REL`) and
half the disagreement between network and physics (:data:`DISAGREEMENT_SHARE`). The network is trained on the
simulator's manifold and only there is it more accurate than the physics; off it, the physics
inversion is the better zero-shot estimate (measured on real leaves, docs/apps/leaf_nitrogen.md),
so the hybrid is never worse than the iterative inversion on off-manifold leaves and costs only
the network (about 0.3 ms) on leaves the simulator explains.

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
RAMP = 0.1  # physics weight 0 at score 1, 1 at score 1 + RAMP: where the score fires, physics leads
# Iterative inversion RMSE on held-out simulations (models/leaf_nitrogen/manifest.json, baseline),
# rounded up: the floor of its uncertainty.
PHYSICS_SD = {"protein_g_cm2": 1.8e-4, "chlorophyll_ug_cm2": 3.6, "ewt_g_cm2": 1.6e-3, "lma_g_cm2": 5.0e-4}
# Relative error of PROSPECT-PRO itself on real leaves (leaf surface, clip geometry, absorption
# coefficients calibrated on other leaves): an assumption of 25 %, checked by the coverage of the
# intervals on real leaves (evaluate-real).
MISMATCH_REL = 0.25
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


def _scalar(v):
    return float(np.asarray(v, float).reshape(-1)[0])


def hybrid_outputs(outputs: dict, sample, *, config: str, x=None) -> tuple[dict, dict]:
    """Network outputs of one leaf -> (hybrid outputs, info).

    ``info``: ``ood_score``, ``ood_t2``, ``ood_q`` (each relative to the 99th percentile of simulated
    leaves), ``physics_weight`` (0 network only ... 1 physics only), ``physics_led`` (weight > 0.5),
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
            "physics_led": False, "swir_noise": noise, "protein_resolvable": resolvable}
    if w > 0 and sample.meta.get("network_only"):
        # the user chose the network (e.g. calibrated on their own leaves): report, do not override
        info["network_only"] = True
    elif w > 0 and c.supports_protein:
        phys = physics_estimate(sample)
        for k in ("protein_g_cm2", "chlorophyll_ug_cm2", "ewt_g_cm2", "lma_g_cm2", "structure_n"):
            if k not in phys or k not in out:
                continue
            vm, vp = out[k], phys[k]
            out[k] = (1 - w) * vm + w * vp
            if f"{k}_std" in out and f"{k}_std" in phys:
                # mixture variance, plus half the network/physics disagreement: two estimators that
                # disagree on an off-manifold leaf are evidence that both may be wrong
                sm, sp = out[f"{k}_std"], phys[f"{k}_std"]
                out[f"{k}_std"] = float(np.sqrt((1 - w) * sm**2 + w * sp**2 + w * (1 - w) * (vm - vp) ** 2
                                                + w * (DISAGREEMENT_SHARE * (vm - vp)) ** 2))
        info["physics_weight"] = w
        info["physics_led"] = w > 0.5
    elif w > 0:
        # no physics inversion can help (VNIR): keep the network, widen its intervals with the score
        for k in list(out):
            if k.endswith("_std"):
                out[k] *= float(np.sqrt(ood["score"]))
    return out, info
