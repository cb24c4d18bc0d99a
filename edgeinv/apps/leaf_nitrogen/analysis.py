"""Every leaf of a file in batches (``LeafNitrogenApp.predict_many``), and an upload's advice and spectra.

:func:`predict_leaves` is the app's ``predict_many``: leaves are grouped by sensor config and each
group runs as one batch through its ONNX model, then the same hybrid and interpretation as
``App.predict``/``App.interpret``. :func:`summarise` turns the core analysis of an upload (the one call
CLI, web and gateways make) into the stored summary with the advice. The *reconstructed spectrum* of a leaf is the
numpy PROSPECT-PRO forward model run with the leaf's predicted traits (proteins, CBC = LMA -
proteins, chlorophyll, carotenoids, water, structure N; anthocyanins and brown pigments, which the
model does not estimate, at zero): how well it overlays the measurement is a visual check that the
estimate explains the spectrum.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from .advice import advise
from .hybrid import hybrid_outputs
from .interpret import LeafResult, interpret_leaf
from .physics import WAVELENGTH_MAX_NM, WAVELENGTH_MIN_NM, prospect_pro

MAX_PLOTTED_LEAVES = 8
PLOT_POINTS = 420


def calibrated_on_real_leaves(runner) -> bool:
    """True when the runner's model (or every model of a switcher) was written by the core calibration path
    (its ONNX metadata names the release it was ``calibrated_from``)."""
    models = [m for m in (getattr(runner, "accurate", None), getattr(runner, "light", None)) if m is not None]
    models = models or [runner]
    return all(bool((getattr(m, "metadata", None) or {}).get("calibrated_from")) for m in models)


def predict_leaves(app, leaves, runner_for) -> list[tuple[object, LeafResult, dict]]:
    """``[(leaf, LeafResult, outputs)]`` for every leaf; ``runner_for(config)`` gives the ONNX runner.

    ``outputs`` are the hybrid's (:func:`hybrid.hybrid_outputs`): the network's where the spectrum is
    on the simulator's manifold, physics-led where it is not.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for i, leaf in enumerate(leaves):
        groups[app.config_for(leaf)].append(i)
    out: list = [None] * len(leaves)
    for config, idx in groups.items():
        x = np.stack([app.preprocess(leaves[i], config=config) for i in idx])
        runner = runner_for(config)
        res = runner(x)
        calibrated = calibrated_on_real_leaves(runner)
        for j, i in enumerate(idx):
            leaf = leaves[i]
            if calibrated and not leaf.meta.get("network_only"):
                # a model fine-tuned on the user's own leaves (`calibrate`/`finetune`) has seen spectra like
                # these: it leads, as with --network-only (the off-manifold score is still reported)
                leaf.meta["network_only"] = True
                leaf.meta["network_only_reason"] = "calibrated"
            outputs, info = hybrid_outputs({k: np.asarray(v)[j] for k, v in res.items()}, leaf, config=config,
                                           x=x[j])
            out[i] = (leaves[i], interpret_leaf(outputs, leaves[i], config=config, info=info), outputs)
    return out


def reconstruct(leaf, outputs: dict) -> tuple[np.ndarray, np.ndarray]:
    """PROSPECT-PRO reflectance with the predicted traits (model outputs or a LeafResult's ``values``, same
    units), on the leaf's wavelengths within 400-2500 nm; a trait withheld (None) counts as zero."""
    wl = np.asarray(leaf.wavelength_nm, float)
    wl = wl[(wl >= WAVELENGTH_MIN_NM) & (wl <= WAVELENGTH_MAX_NM)]

    def get(name, lo=0.0):
        v = outputs.get(name)
        return lo if v is None else max(float(np.asarray(v, float).reshape(-1)[0]), lo)

    protein = get("protein_g_cm2")
    _, refl, _ = prospect_pro(n_struct=get("structure_n", 1.0), chlorophyll_ug_cm2=get("chlorophyll_ug_cm2"),
                              carotenoid_ug_cm2=get("carotenoid_ug_cm2"), ewt_g_cm2=get("ewt_g_cm2"),
                              protein_g_cm2=protein, cbc_g_cm2=max(get("lma_g_cm2") - protein, 0.0),
                              wavelength_nm=wl)
    return wl, refl


def _decimate(wl, values, n=PLOT_POINTS):
    step = max(1, int(np.ceil(len(wl) / n)))
    return [round(float(v), 2) for v in wl[::step]], [round(float(v), 5) for v in np.asarray(values)[::step]]


def summarise(analysis, *, field: dict) -> tuple[dict, dict]:
    """Advice and plot data for one analysed upload of a field (``analysis`` from the core's ``analyse``).

    ``field`` holds the field's settings (crop, stage, reference_n_g_m2, n_applied_kg_ha, n_opt_kg_ha,
    n_to_protein, is_reference). Returns ``(summary, spectra)``: the JSON summary stored as the result
    (every leaf's result with its ``parameters``, the advice) and the measured/reconstructed spectra of up
    to :data:`MAX_PLOTTED_LEAVES` leaves.
    """
    results = analysis.results
    advice = None
    if field.get("crop") and field.get("stage"):  # a field created by a gateway may not say its crop yet
        advice = advise(results, crop=field["crop"], stage=field["stage"],
                        reference_n_g_m2=None if field.get("is_reference") else field.get("reference_n_g_m2"),
                        n_applied_kg_ha=float(field.get("n_applied_kg_ha") or 0.0),
                        n_opt_kg_ha=field.get("n_opt_kg_ha"), is_reference=bool(field.get("is_reference")),
                        field_area_ha=field.get("field_area_ha") or None)
    spectra = {"leaves": []}
    for leaf, res in list(zip(analysis.samples, results))[:MAX_PLOTTED_LEAVES]:
        wl_m, r_m = _decimate(leaf.wavelength_nm, leaf.reflectance)
        wl_r, r_r = _decimate(*reconstruct(leaf, res.values))
        spectra["leaves"].append({"sample": res.sample, "measured": {"x": wl_m, "y": r_m},
                                  "model": {"x": wl_r, "y": r_r}})
    nv = [r.nitrogen_g_m2 for r in results if r.nitrogen_g_m2 is not None]
    summary = {"n_leaves": len(results), "configs": sorted({r.config for r in results}),
               "mean_n_g_m2": float(np.mean(nv)) if nv else None,
               "leaves": analysis.result_dicts(), "advice": None if advice is None else advice.to_dict(),
               "field": {k: field.get(k) for k in ("crop", "stage", "reference_n_g_m2", "n_applied_kg_ha",
                                                   "n_opt_kg_ha", "n_to_protein", "field_area_ha")},
               "is_reference": bool(field.get("is_reference"))}
    if advice is None:
        summary["advice_note"] = "no advice: the field does not say its crop and growth stage"
    return summary, spectra
