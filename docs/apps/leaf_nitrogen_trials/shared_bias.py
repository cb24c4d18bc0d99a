"""Issue 14, item 1a/3: the species-level (shared) part of the N error, on simulations only. python shared_bias.py
[SPECIES] [LEAVES]. Each simulated "species" gets ONE absorption-coefficient perturbation (water and CBC spectra, the
training's simulate.COEF_SD) shared by all its leaves (traits from the realistic prior, the training's per-leaf
artefacts, the trimmed instrument); its leaves go through the shipped edge path (network, score, physics where it
fires). Prints the sd across species of the species-mean relative N error, log(mean N_hat / mean N) -- the part that
does not average out over a field's leaves -- and of the per-leaf error around it; no real leaf is used.
With FACTOR (third argument, e.g. 1): each species also gets its own N-to-protein factor, 4.43 x (1 + 0.10 z) (the
assumed spread, interpret.N_TO_PROTEIN_REL_SD), and each species is scored as one field through the advice's
standard errors (advice.field_mean): the share of species whose measured mean N lies within 1 / 1.96 se, leaves as
independent vs with the shared part -- a check of the whole chain on simulations (its factor part is circular)."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import json
import numpy as np
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.hybrid import hybrid_outputs
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
from edgeinv.apps.leaf_nitrogen.sensors import measure
from edgeinv.apps.leaf_nitrogen.simulate import TRAIT_NAMES, leaf_artefacts, perturbed_constants, sample_traits
from edgeinv.common.runtime.session import load_model
n_sp = int(sys.argv[1]) if len(sys.argv) > 1 else 30
n_leaf = int(sys.argv[2]) if len(sys.argv) > 2 else 30
with_factor = len(sys.argv) > 3 and sys.argv[3] != '0'
from edgeinv.apps.leaf_nitrogen.advice import field_mean
from edgeinv.apps.leaf_nitrogen.interpret import N_TO_PROTEIN_REL_SD, interpret_leaf
from edgeinv.apps.leaf_nitrogen.physics import DEFAULT_N_TO_PROTEIN
zs = []
models = Path(__file__).resolve().parents[3] / 'models/leaf_nitrogen'
run = load_model(models / 'trimmed' / f"{json.load(open(models / 'manifest.json'))['configs']['trimmed']['chosen']}.onnx", threads=1)
rng = np.random.default_rng(2024)
sp_bias, within, fired = [], [], []
for j in range(n_sp):
    tr = sample_traits(n_leaf, rng=rng)
    const = perturbed_constants(1, rng=rng, share=1.0)
    _, refl, _ = prospect_pro(constants=const, **{k: np.asarray(tr[k]) for k in TRAIT_NAMES})
    refl = leaf_artefacts(refl, rng=rng)
    leaves = [LeafSpectrum(sample=f's{j}_{i}', wavelength_nm=wl, reflectance=r.astype(np.float32), source='simulated')
              for i, (wl, r) in enumerate(measure(reflectance_1nm=refl, config='trimmed', rng=rng))]
    x = np.stack([APP.preprocess(l, config='trimmed') for l in leaves])
    raw = {k: np.asarray(v, float).reshape(len(leaves), -1)[:, 0] for k, v in run(x).items()}
    est, res = [], []
    for i, l in enumerate(leaves):
        h, info = hybrid_outputs({k: v[i] for k, v in raw.items()}, l, config='trimmed', x=x[i])
        est.append(h['protein_g_cm2']); fired.append(info['ood_score'] > 1)
        res.append(interpret_leaf(h, l, config='trimmed', info=info))
    if with_factor:  # the species' true factor: its measured N = protein / factor
        f_sp = DEFAULT_N_TO_PROTEIN * (1 + N_TO_PROTEIN_REL_SD * rng.normal())
        n_meas = np.asarray(tr['protein_g_cm2']) * 1e4 / f_sp
        m, _, se, se_abs, _ = field_mean([r for r in res if r.nitrogen_g_m2 is not None])
        zs.append(((m - n_meas.mean()) / se, (m - n_meas.mean()) / se_abs))
    est, true = np.maximum(np.array(est), 1e-6), np.asarray(tr['protein_g_cm2'])
    b = float(np.log(est.mean() / true.mean()))
    sp_bias.append(b); within.extend(np.log(est / true) - b)
    print(f'species {j:2d}: shared relative N error {100 * b:+5.1f} %', flush=True)
sp_bias = np.array(sp_bias)
print(f'{n_sp} species x {n_leaf} leaves: sd of the species-shared error {100 * sp_bias.std(ddof=1):.1f} % (mean '
      f'{100 * sp_bias.mean():+.1f} %, RMS {100 * np.sqrt(np.mean(sp_bias ** 2)):.1f} %); per-leaf sd around it '
      f'{100 * np.std(within):.1f} %; off the manifold {100 * np.mean(fired):.1f} % of leaves')
if zs:
    z = np.abs(np.array(zs))
    print(f'species as fields: within 1 se {np.mean(z[:, 0] <= 1):.0%} -> {np.mean(z[:, 1] <= 1):.0%}, within 1.96 se '
          f'{np.mean(z[:, 0] <= 1.96):.0%} -> {np.mean(z[:, 1] <= 1.96):.0%} (leaves as independent -> with the shared '
          f'part; nominal 68 / 95 %)')
