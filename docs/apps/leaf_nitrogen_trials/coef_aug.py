"""A/B: absorption-coefficient uncertainty in training (water and CBC spectra perturbed per leaf), trimmed teacher.

python coef_aug.py base|aug|score OUTDIR (score: only score OUTDIR/trimmed/teacher_fp32.onnx, e.g. models/leaf_nitrogen)  (aug settings: AUG_SHARE, AUG_SD_W, AUG_SD_C; default 0.6, 0.05, 0.15) -> trains 8 000 leaves x 30 epochs (seed 0), then scores the network on the
real table (per species) and on 300 independent simulations (protein NRMSE). Training side only.
"""
import dataclasses, json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from edgeinv.apps.leaf_nitrogen import APP, simulate as S
from edgeinv.apps.leaf_nitrogen.physics import optical_constants, prospect_pro, nitrogen_area_g_m2
from edgeinv.apps.leaf_nitrogen.realdata import read_table
from edgeinv.apps.leaf_nitrogen.independent import simulate_independent
from edgeinv.common.pipeline import train_teacher
from edgeinv.common.runtime.session import load_model

mode, out = sys.argv[1], Path(sys.argv[2])
from coef_aug_forward import settings
SHARE, SD_W, SD_C = settings()
if mode == "aug":
    from coef_aug_forward import make_forward
    S.forward = make_forward(SHARE, SD_W, SD_C)
import os
full = os.environ.get("AUG_FULL") == "1"  # the release recipe (20 000 leaves, 75 epochs) instead of the A/B budget
recipe = APP.recipe("trimmed") if full else dataclasses.replace(APP.recipe("trimmed"), n_train=8000, n_val=1000,
                                                                 n_test=300, epochs=30)
rep = train_teacher(APP, "trimmed", out, recipe=recipe, progress=False) if mode != "score" else {"heldout_metrics": {}}
run = load_model(out / "trimmed" / "teacher_fp32.onnx", threads=1)
table = read_table(Path(__file__).resolve().parents[4] / "shared/realdata/leaf-nitrogen/ely2019_dev_species/ely2019_dev_species.csv")
x = np.stack([APP.preprocess(t["leaf"], config="trimmed") for t in table])
n_hat = np.asarray(nitrogen_area_g_m2(protein_g_cm2=np.maximum(np.asarray(run(x)["protein_g_cm2"]).reshape(-1), 0)))
sp = np.array([t["species"] for t in table]); n = np.array([t["n_g_m2"] for t in table])
res = {}
for s in np.unique(sp):
    m = sp == s; e = n_hat[m] - n[m]
    res[s] = {"r2": float(1 - np.sum(e ** 2) / np.sum((n[m] - n[m].mean()) ** 2)), "bias": float(e.mean()),
              "r": float(np.corrcoef(n_hat[m], n[m])[0, 1])}
ind = simulate_independent(300, rng=np.random.default_rng(777001), config="trimmed")
xi = np.stack([APP.preprocess(l, config="trimmed") for l in ind])
p = np.asarray(run(xi)["protein_g_cm2"]).reshape(-1); tr = np.array([l.truth["protein_g_cm2"] for l in ind])
res["indep_protein_nrmse"] = float(np.sqrt(np.mean((p - tr) ** 2)) / np.ptp(tr))
res["sim_heldout_protein_rmse"] = rep["heldout_metrics"].get("protein_g_cm2", {}).get("rmse")
print(mode, json.dumps(res))
