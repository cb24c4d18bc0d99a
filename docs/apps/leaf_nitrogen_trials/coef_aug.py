"""A/B: absorption-coefficient uncertainty in training (water and CBC spectra perturbed per leaf), trimmed teacher.

python coef_aug.py base|aug OUTDIR  -> trains 8 000 leaves x 30 epochs (seed 0), then scores the network on the
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
SHARE, SD_W, SD_C = 0.6, 0.05, 0.15
if mode == "aug":
    rng_k = np.random.default_rng(99)

    def forward(traits, *, chunk=2000):
        const = optical_constants()
        wl = const.wavelength_nm
        t = (wl - 1450.0) / 1050.0
        basis = np.stack([np.ones_like(t), t, t * t - 1 / 3, t ** 3 - 0.6 * t])
        n = len(traits["n_struct"])
        refl = np.empty((n, len(wl))); tran = np.empty_like(refl)
        for s in range(0, n, chunk):
            sl = slice(s, s + chunk); m = len(range(*sl.indices(n)))
            hit = (rng_k.random(m) < SHARE)[:, None]
            gw = 1 + hit * (rng_k.normal(0, SD_W, (m, 3)) @ basis[:3])
            gc = 1 + hit * (rng_k.normal(0, SD_C, (m, 4)) @ basis)
            c = dataclasses.replace(const, k_water=const.k_water[None] * np.clip(gw, 0.3, None),
                                    k_cbc=const.k_cbc[None] * np.clip(gc, 0.3, None))
            _, refl[sl], tran[sl] = prospect_pro(constants=c, **{k: np.asarray(traits[k])[sl] for k in S.TRAIT_NAMES})
        return wl, refl, tran
    S.forward = forward
recipe = dataclasses.replace(APP.recipe("trimmed"), n_train=8000, n_val=1000, n_test=300, epochs=30)
rep = train_teacher(APP, "trimmed", out, recipe=recipe, progress=False)
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
