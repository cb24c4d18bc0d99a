"""Would a physics-fit residual separate unphysical spectra from real leaves better than the off-manifold score?
(python ood_residual.py [N_SIM]). Per spectrum: the edge path's physics inversion (structure fitted), PROSPECT-PRO
run with its estimates (pigments from the chlorophyll fit, carotenoids at Cab/4.5), RMS of measured - model over
the structure domains (800-1300, 1500-1800, 2050-2400 nm). Real leaves, simulated leaves drawn like training
(trimmed), and the unphysical cases of ood_garbage.py."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from load import load
from edgeinv.apps.leaf_nitrogen.baseline import invert, STRUCTURE_DOMAINS_NM
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves
D = np.concatenate([np.arange(a, b + 1.0) for a, b in STRUCTURE_DOMAINS_NM])
def resid(wl, r):
    r = np.clip(np.asarray(r, float), 1e-3, 0.99)
    e = invert(wavelength_nm=wl, reflectance=r, fit_structure=True)
    cab = e.get('chlorophyll_ug_cm2', 40.0)
    _, m, _ = prospect_pro(n_struct=e['n_struct'], chlorophyll_ug_cm2=cab, carotenoid_ug_cm2=cab / 4.5,
                           ewt_g_cm2=e['ewt_g_cm2'], protein_g_cm2=e['protein_g_cm2'], cbc_g_cm2=e['cbc_g_cm2'], wavelength_nm=D)
    m = m[0] if m.ndim == 2 else m
    return float(np.sqrt(np.mean((np.interp(D, wl, r) - m) ** 2)))
wl_r, R, sp, d = load()
real = np.array([resid(wl_r, r) for r in R])
print('real leaves RMS residual:', ' '.join(f'{s} median {np.median(real[sp==s]):.4f} max {real[sp==s].max():.4f}' for s in np.unique(sp)), flush=True)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
sim = np.array([resid(l.wavelength_nm, l.reflectance) for l in simulate_leaves(n, rng=np.random.default_rng(5), config='trimmed')])
print(f'simulated like training ({n}): median {np.median(sim):.4f}, p99 {np.percentile(sim, 99):.4f}, max {sim.max():.4f}', flush=True)
wl = np.arange(500.0, 2401.0)
_, r, _ = prospect_pro(n_struct=1.6, chlorophyll_ug_cm2=40, carotenoid_ug_cm2=9, ewt_g_cm2=0.015, protein_g_cm2=0.0012,
                       cbc_g_cm2=0.004, wavelength_nm=wl)
r = r[0] if r.ndim == 2 else r
odd = r.copy(); odd[wl > 1400] = 0.45; odd += 0.08 * np.exp(-0.5 * ((wl - 1200) / 30) ** 2)
sw = wl > 1300
cases = {'water-free SWIR + bump (tests)': odd, 'flat 0.3': np.full_like(wl, 0.3),
         'linear ramp 0.1-0.4 (soil-like)': np.linspace(0.1, 0.4, len(wl)), 'SWIR x 1.5': np.where(sw, r * 1.5, r),
         'SWIR x 0.6': np.where(sw, r * 0.6, r), '+ white noise 0.02': r + 0.02 * np.random.default_rng(1).standard_normal(len(wl)),
         'reversed in wavelength': r[::-1]}
for k, v in cases.items():
    print(f'{k:34s} RMS residual {resid(wl, v):.4f}', flush=True)
