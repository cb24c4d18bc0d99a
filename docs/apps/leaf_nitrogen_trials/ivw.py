"""Issue 14: where the off-manifold score fires, weigh network and physics by their uncertainties instead of switching.

Per leaf (python ivw.py [estimates.pkl]): network protein with its sigma inflated by the off-manifold score
(sigma x score^k, k = 0.5 or 1; score = distance ratio to the simulations' 99th percentile, so sqrt for a squared
distance), physics protein with its sigma (simulation error (+) 25 % mismatch), inverse-variance mean; its sigma = the
combined sigma (+) half the disagreement (as the shipped hybrid) (+) the factor's 10 %. N per area per species:
NRMSE / R2 / bias, and +-1 sigma / +-2 sigma coverage. Against the shipped hybrid (ramp 1 -> 1.1) and each alone.
Stop 21 trial. Shipped in stop 22 as `hybrid.combine` (the "shared mismatch" variant, with the network's edge factor
1.9 measured on simulations by ivw_sigma.py instead of 1, and physics alone where `hybrid.physics_checks` fails); the
`hyb` rows of an estimates.pkl written since then are that path, not the switch."""
import pickle, sys
from pathlib import Path
from common import *
wl, R, sp, d = load(); n = d['N_g_m2']
est = pickle.load(open(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name('estimates.pkl'), 'rb'))
g = lambda w, k: np.array([e[w].get(k, np.nan) for e in est])
score = np.array([e['info']['ood_score'] for e in est])
k_n = 1e4 / F
pn, sn = g('net', 'protein_g_cm2') * k_n, g('net', 'protein_g_cm2_std') * k_n
pp, spp = g('phys', 'protein_g_cm2') * k_n, g('phys', 'protein_g_cm2_std') * k_n
ph, sh = g('hyb', 'protein_g_cm2') * k_n, g('hyb', 'protein_g_cm2_std') * k_n
runs = {'shipped hybrid': (ph, np.hypot(sh, 0.1 * ph)), 'network alone': (pn, np.hypot(sn, 0.1 * pn)),
        'physics alone': (pp, np.hypot(spp, 0.1 * pp))}
for kexp in (0.5, 1.0):
    s_inf = sn * np.maximum(score, 1.0) ** kexp
    w = (1 / s_inf**2) / (1 / s_inf**2 + 1 / spp**2)
    m = w * pn + (1 - w) * pp
    s = np.sqrt(1 / (1 / s_inf**2 + 1 / spp**2) + w * (1 - w) * (pn - pp) ** 2 + (1 - w) * (0.5 * (pn - pp)) ** 2)
    runs[f'inverse-variance k={kexp:g}'] = (m, np.hypot(s, 0.1 * m))
    print(f'k={kexp:g}: network weight median per species', ' '.join(f'{x} {np.median(w[sp==x]):.2f}' for x in np.unique(sp)))
for name, (m, s) in runs.items():
    print(f'{name:24s}', ' | '.join(f'{x} {nrmse(m[sp==x], n[sp==x]):.3f} / {r2(m[sp==x], n[sp==x]):+.2f} / '
          f'{np.mean(m[sp==x]-n[sp==x]):+.2f} cov {np.mean(abs(m-n)[sp==x] <= s[sp==x]):.2f} {np.mean(abs(m-n)[sp==x] <= 2*s[sp==x]):.2f}'
          for x in np.unique(sp)))
# Variant: the model mismatch of an off-manifold spectrum (25 %, the hybrid's MISMATCH_REL) is the spectrum's, shared by
# both estimators: weights from their own errors only (network sigma x sqrt(score); physics: its simulation error
# PHYSICS_SD), the shared mismatch added once (scaled by the hybrid's ramp), plus half the disagreement.
from edgeinv.apps.leaf_nitrogen.hybrid import PHYSICS_SD, MISMATCH_REL, RAMP
ramp = np.clip((score - 1) / RAMP, 0, 1)
s_own_p = np.full_like(pp, PHYSICS_SD['protein_g_cm2'] * k_n)
for kexp in (0.5, 1.0):
    s_inf = sn * np.maximum(score, 1.0) ** kexp
    w = np.where(ramp > 0, (1 / s_inf**2) / (1 / s_inf**2 + 1 / s_own_p**2), 1.0)
    m = w * pn + (1 - w) * pp
    s = np.sqrt(w**2 * s_inf**2 + (1 - w)**2 * s_own_p**2 + (ramp * MISMATCH_REL * m) ** 2 + ramp * (0.5 * (pn - pp)) ** 2)
    s = np.hypot(s, 0.1 * m)
    print(f'shared mismatch k={kexp:g}    ', ' | '.join(f'{x} {nrmse(m[sp==x], n[sp==x]):.3f} / {r2(m[sp==x], n[sp==x]):+.2f} / '
          f'{np.mean(m[sp==x]-n[sp==x]):+.2f} cov {np.mean(abs(m-n)[sp==x] <= s[sp==x]):.2f} {np.mean(abs(m-n)[sp==x] <= 2*s[sp==x]):.2f} w {np.median(w[sp==x]):.2f}'
          for x in np.unique(sp)))
