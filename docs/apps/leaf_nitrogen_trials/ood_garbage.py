"""How far the off-manifold score separates spectra no leaf has from the real leaves (python ood_garbage.py).
Scores (trimmed config, the real table's, and full) of: the 64 real leaves; simulated leaves drawn like training; and
unphysical spectra built from a PROSPECT-PRO leaf: water-free SWIR (the tests' `_odd`), a flat 0.3, a linear ramp
(soil-like), SWIR x 1.5, SWIR x 0.6, white noise 0.02 added, the spectrum reversed in wavelength.
`garbage_cases(config)` is also what ood_residual.py and ivw_safe.py run."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from edgeinv.apps.leaf_nitrogen.hybrid import ood_score
from edgeinv.apps.leaf_nitrogen.features import preprocess
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves

BASE = dict(n_struct=1.6, chlorophyll_ug_cm2=40, carotenoid_ug_cm2=9, ewt_g_cm2=0.015, protein_g_cm2=0.0012, cbc_g_cm2=0.004)


def garbage_cases(config):
    """{case: (wavelengths, reflectance, base leaf's traits or None)} on the config's range (trimmed 500-2400 nm,
    full 400-2500 nm); the base leaf's traits are a reference where the case is a distorted leaf."""
    wl = np.arange(500.0, 2401.0) if config == 'trimmed' else np.arange(400.0, 2501.0)
    _, r, _ = prospect_pro(wavelength_nm=wl, **BASE)
    r = np.asarray(r, float).reshape(-1)
    odd = r.copy(); odd[wl > 1400] = 0.45; odd += 0.08 * np.exp(-0.5 * ((wl - 1200) / 30) ** 2)
    sw = wl > 1300
    t = dict(BASE)
    return {'PROSPECT-PRO leaf': (wl, r, t), 'water-free SWIR + bump (tests)': (wl, odd, None),
            'flat 0.3': (wl, np.full_like(wl, 0.3), None),
            'linear ramp 0.1-0.4 (soil-like)': (wl, np.linspace(0.1, 0.4, len(wl)), None),
            'SWIR x 1.5': (wl, np.where(sw, r * 1.5, r), None), 'SWIR x 0.6': (wl, np.where(sw, r * 0.6, r), None),
            '+ white noise 0.02': (wl, r + 0.02 * np.random.default_rng(1).standard_normal(len(wl)), t),
            'reversed in wavelength': (wl, r[::-1], None)}


if __name__ == '__main__':
    from load import load
    wl_r, R, sp, d = load()
    sc = lambda wl, r, c: ood_score(preprocess(LeafSpectrum('x', wl, np.clip(r, 1e-3, 0.99)), config=c), config=c)['score']
    real = np.array([sc(wl_r, r, 'trimmed') for r in R])
    sim = np.array([sc(l.wavelength_nm, l.reflectance, 'trimmed') for l in simulate_leaves(300, rng=np.random.default_rng(5), config='trimmed')])
    print(f'real leaves: median {np.median(real):.2f}, range {real.min():.2f}-{real.max():.2f}; simulated: median '
          f'{np.median(sim):.2f}, > 1 for {100*np.mean(sim > 1):.1f} %')
    simf = np.array([sc(l.wavelength_nm, l.reflectance, 'full') for l in simulate_leaves(300, rng=np.random.default_rng(5), config='full')])
    print(f'full config, simulated: median {np.median(simf):.2f}, > 1 for {100*np.mean(simf > 1):.1f} %')
    print(f'{"case":34s} {"trimmed":>8s} {"full":>8s}')
    tr, fu = garbage_cases('trimmed'), garbage_cases('full')
    for k in tr:
        print(f'{k:34s} {sc(*tr[k][:2], "trimmed"):8.2f} {sc(*fu[k][:2], "full"):8.2f}')
