"""Held-out simulations with the published coefficients (no coefficient perturbation): RMSE of the chosen variant.

EDGEINV_MODELS_DIR=<release root> python nominal_heldout.py  (600 leaves per config, seed 100003, as the manifest's)
"""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves
from edgeinv.apps.leaf_nitrogen.physics import nitrogen_area_g_m2
from edgeinv.common.config import load_settings
from edgeinv.common.runtime.bundle import load_runner
for config in ("full", "trimmed"):
    leaves = simulate_leaves(600, rng=np.random.default_rng(100003), config=config, coefficients=False)
    out = load_runner(APP, load_settings(), config=config)(np.stack([APP.preprocess(l, config=config) for l in leaves]))
    line = f"{config:8s}"
    for k in ("protein_g_cm2", "chlorophyll_ug_cm2", "ewt_g_cm2", "lma_g_cm2"):
        p = np.asarray(out[k]).reshape(-1); t = np.array([l.truth[k] for l in leaves])
        line += f" {k} RMSE {np.sqrt(np.mean((p - t) ** 2)):.3g}"
    p = np.asarray(nitrogen_area_g_m2(protein_g_cm2=np.asarray(out["protein_g_cm2"]).reshape(-1)))
    t = np.asarray(nitrogen_area_g_m2(protein_g_cm2=np.array([l.truth["protein_g_cm2"] for l in leaves])))
    print(line + f" | N RMSE {np.sqrt(np.mean((p - t) ** 2)):.3f} g/m2", flush=True)
