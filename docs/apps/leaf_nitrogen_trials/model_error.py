"""Issue 14, stop 24: are the zero-shot N intervals honest on real leaves, on and off the manifold?

python model_error.py [estimates.pkl]   (estimates.py writes it: network, physics and hybrid per leaf, no label used)

Rebuilds the hybrid's N sigma from the network and physics outputs per leaf (hybrid.combine's formula, plus the
factor's 10 %) for: the stop-23 edge path (PROSPECT-PRO's mismatch, 25 %, only where the score fires, ramped), the
same 25 % on every leaf, and a model error M on every leaf with M fitted on two species (rms z = 1 on them) and
scored on the third -- leave-one-species-out, so the size is not read off the leaves it is judged on. Prints
+-1 sigma / +-2 sigma coverage and rms z on / off the manifold and per species, and the share of leaves whose
1 sigma exceeds 25 % of N ("only roughly resolved"). Labels are used here only to score."""
import pickle, sys
from pathlib import Path
from scipy.optimize import brentq
from common import *
from edgeinv.apps.leaf_nitrogen.hybrid import (DISAGREEMENT_SHARE, MISMATCH_REL, NETWORK_EDGE_FACTOR, PHYSICS_SD,
                                               RAMP)
wl, R, sp, d = load(); n = d['N_g_m2']
est = pickle.load(open(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name('estimates.pkl'), 'rb'))
g = lambda w, k: np.array([e[w].get(k, np.nan) for e in est])
score = np.array([e['info']['ood_score'] for e in est])
assert not any(e['info']['unlike_any_leaf'] for e in est), 'a physics-alone leaf: its sigma is not rebuilt here'
k = 1e4 / F
pn, sn, pp = g('net', 'protein_g_cm2') * k, g('net', 'protein_g_cm2_std') * k, g('phys', 'protein_g_cm2') * k
ramp = np.clip((score - 1) / RAMP, 0, 1)
s_n = sn * (1 + ramp * (NETWORK_EDGE_FACTOR * np.sqrt(np.maximum(score, 1)) - 1))
s_p = PHYSICS_SD['protein_g_cm2'] * k
w = 1 - ramp * (1 - s_p**2 / (s_n**2 + s_p**2))
m = w * pn + (1 - w) * pp
own2 = w**2 * s_n**2 + (1 - w)**2 * s_p**2 + ramp * (DISAGREEMENT_SHARE * np.where(ramp > 0, pn - pp, 0))**2
sigma = lambda mis: np.hypot(np.sqrt(own2 + (mis * m)**2), 0.1 * m)
groups = [('on manifold', score <= 1), ('off', score > 1)] + [(q, sp == q) for q in np.unique(sp)] + [('all', sp == sp)]


def show(name, s):
    z = (m - n) / s
    print(f'{name:34s}', ' | '.join(f'{x} {np.mean(abs(z[g_]) <= 1):.2f} {np.mean(abs(z[g_]) <= 2):.2f} rmsz '
                                    f'{np.sqrt(np.mean(z[g_]**2)):.2f}' for x, g_ in groups), f'| rough {np.mean(s / m > 0.25):.2f}')


print(f'{len(n)} leaves, {np.sum(score <= 1)} on the manifold; N error rms on / off: '
      f'{np.sqrt(np.mean((m - n)[score <= 1]**2)):.3f} / {np.sqrt(np.mean((m - n)[score > 1]**2)):.3f} g/m2')
print('cells: +-1 sigma and +-2 sigma coverage (nominal 0.68 / 0.95), rms of z = error / sigma')
show('stop 23: 25 % only where it fires', sigma(ramp * MISMATCH_REL))
show('25 % on every leaf', sigma(MISMATCH_REL))
for q in np.unique(sp):
    tr = sp != q
    M = brentq(lambda M: np.sqrt(np.mean(((m - n) / sigma(M))[tr]**2)) - 1, 0.0, 1.0)
    z = ((m - n) / sigma(M))[~tr]
    print(f'M fitted without {q}: {M:.3f}; on {q}: +-1 sigma {np.mean(abs(z) <= 1):.2f}, +-2 sigma {np.mean(abs(z) <= 2):.2f}, '
          f'rms z {np.sqrt(np.mean(z**2)):.2f}')
show('M = 0.10 on every leaf (shipped)', sigma(0.10))
