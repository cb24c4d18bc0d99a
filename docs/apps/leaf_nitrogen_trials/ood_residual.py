"""Would a physics-fit residual separate unphysical spectra from real leaves better than the off-manifold score?
(python ood_residual.py [N_SIM] [CONFIG]). Per spectrum: the edge path's physics inversion (structure fitted), then
`hybrid.physics_fit_residual`: PROSPECT-PRO run with its estimates (carotenoids at Cab/4.5), RMS of measured - model
over the structure domains (800-1300, 1500-1800, 2050-2400 nm). Real leaves, held-out simulated leaves drawn like
training (CONFIG, default trimmed; seed 5), and the unphysical cases of ood_garbage.py. The largest simulated residual,
rounded up, is `hybrid.RESIDUAL_LIMIT`."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from load import load
from edgeinv.apps.leaf_nitrogen.hybrid import physics_estimate, physics_fit_residual
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves
from ood_garbage import garbage_cases


def resid(wl, r):
    leaf = LeafSpectrum('x', np.asarray(wl, float), np.clip(np.asarray(r, float), 1e-3, 0.99))
    return physics_fit_residual(leaf, physics_estimate(leaf))


n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
config = sys.argv[2] if len(sys.argv) > 2 else 'trimmed'
wl_r, R, sp, d = load()
real = np.array([resid(wl_r, r) for r in R])
print('real leaves RMS residual:', ' '.join(f'{s} median {np.median(real[sp==s]):.4f} max {real[sp==s].max():.4f}' for s in np.unique(sp)), flush=True)
sim = np.array([resid(l.wavelength_nm, l.reflectance) for l in simulate_leaves(n, rng=np.random.default_rng(5), config=config)])
print(f'simulated like training ({n}, {config}): median {np.median(sim):.4f}, p99 {np.percentile(sim, 99):.4f}, max {sim.max():.4f}', flush=True)
for k, (wl, v, _) in garbage_cases(config).items():
    print(f'{k:34s} RMS residual {resid(wl, v):.4f}', flush=True)
