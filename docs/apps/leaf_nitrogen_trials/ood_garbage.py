"""How far the off-manifold score separates spectra no leaf has from the real leaves (python ood_garbage.py).
Scores (trimmed config, the real table's) of: the 64 real leaves; simulated leaves drawn like training; and
unphysical spectra built from a PROSPECT-PRO leaf: water-free SWIR (the tests' `_odd`), a flat 0.3, a linear ramp
(soil-like), SWIR x 1.5, SWIR x 0.6, white noise 0.02 added, the spectrum reversed in wavelength."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from load import load
from edgeinv.apps.leaf_nitrogen.hybrid import ood_score
from edgeinv.apps.leaf_nitrogen.features import preprocess
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves
wl_r, R, sp, d = load()
sc = lambda wl, r: ood_score(preprocess(LeafSpectrum('x', wl, np.clip(r, 1e-3, 0.99)), config='trimmed'), config='trimmed')['score']
real = np.array([sc(wl_r, r) for r in R])
sim = np.array([sc(l.wavelength_nm, l.reflectance) for l in simulate_leaves(300, rng=np.random.default_rng(5), config='trimmed')])
print(f'real leaves: median {np.median(real):.2f}, range {real.min():.2f}-{real.max():.2f}; simulated: median '
      f'{np.median(sim):.2f}, > 1 for {100*np.mean(sim > 1):.1f} %')
wl = np.arange(500.0, 2401.0)
_, r, _ = prospect_pro(n_struct=1.6, chlorophyll_ug_cm2=40, carotenoid_ug_cm2=9, ewt_g_cm2=0.015, protein_g_cm2=0.0012,
                       cbc_g_cm2=0.004, wavelength_nm=wl)
r = r[0] if r.ndim == 2 else r
odd = r.copy(); odd[wl > 1400] = 0.45; odd += 0.08 * np.exp(-0.5 * ((wl - 1200) / 30) ** 2)
sw = wl > 1300
cases = {'PROSPECT-PRO leaf': r, 'water-free SWIR + bump (tests)': odd, 'flat 0.3': np.full_like(wl, 0.3),
         'linear ramp 0.1-0.4 (soil-like)': np.linspace(0.1, 0.4, len(wl)), 'SWIR x 1.5': np.where(sw, r * 1.5, r),
         'SWIR x 0.6': np.where(sw, r * 0.6, r), '+ white noise 0.02': r + 0.02 * np.random.default_rng(1).standard_normal(len(wl)),
         'reversed in wavelength': r[::-1]}
wf = np.arange(400.0, 2501.0)
_, rf, _ = prospect_pro(n_struct=1.6, chlorophyll_ug_cm2=40, carotenoid_ug_cm2=9, ewt_g_cm2=0.015, protein_g_cm2=0.0012,
                        cbc_g_cm2=0.004, wavelength_nm=wf)
rf = rf[0] if rf.ndim == 2 else rf
full = lambda v: ood_score(preprocess(LeafSpectrum('x', wf, np.clip(v, 1e-3, 0.99)), config='full'), config='full')['score']
pad = lambda v: np.interp(wf, wl, v)  # the same case on 400-2500 nm (ends held), scored by the full config
simf = np.array([full(l.reflectance) for l in simulate_leaves(300, rng=np.random.default_rng(5), config='full')])
print(f'full config, simulated: median {np.median(simf):.2f}, > 1 for {100*np.mean(simf > 1):.1f} %')
oddf = rf.copy(); oddf[wf > 1400] = 0.45; oddf += 0.08 * np.exp(-0.5 * ((wf - 1200) / 30) ** 2)
print(f'{"case":34s} {"trimmed":>8s} {"full":>8s}')
for k, v in cases.items():
    vf = oddf if k.startswith('water-free') else rf if k == 'PROSPECT-PRO leaf' else pad(v)
    print(f'{k:34s} {sc(wl, v):8.2f} {full(vf):8.2f}')
