"""Issue 14, item 3: the simplest calibrations of the zero-shot estimates, leave-one-species-out (fitted on the other
two species, scored on the held-out one). python loso_log.py [estimates.pkl]. Estimators: the shipped edge path
(hybrid), the network alone, the physics inversion alone. Calibrations:
  scale        N = k N_hat (= a calibrated N-to-protein factor)
  power        log N = a + b log N_hat
  mass x LMA   log N = a + b log(N_hat / LMA_hat) + c log LMA_hat (calibration in the log N_mass x LMA space)
PLSR on the same splits: the `loso` command's column (+0.32 / -0.13 / -1.57)."""
import pickle, sys
from pathlib import Path
from common import *
wl, R, sp, d = load(); n = d['N_g_m2']
est = pickle.load(open(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name('estimates.pkl'), 'rb'))
g = lambda w, k: np.array([e[w].get(k, np.nan) for e in est])
def fit_pred(X, tr, te, y):
    A = lambda m: np.column_stack([np.ones(m.sum())] + [x[m] for x in X])
    c = np.linalg.lstsq(A(tr), y[tr], rcond=None)[0]
    return A(te) @ c
species = np.unique(sp)
print('estimator   calibration  ' + ' | '.join(f'{s:>15s}' for s in species) + '   (R2 / NRMSE on the held-out species)')
for w in ('hyb', 'net', 'phys'):
    nh = np.maximum(g(w, 'protein_g_cm2'), 1e-6) * 1e4 / F; lh = np.maximum(g(w, 'lma_g_cm2'), 1e-5) * 1e4
    for cal in ('none', 'scale', 'power', 'mass x LMA'):
        cells = []
        for s in species:
            tr, te = sp != s, sp == s
            if cal == 'none': p = nh[te]
            elif cal == 'scale': p = nh[te] * np.sum(nh[tr] * n[tr]) / np.sum(nh[tr] ** 2)
            elif cal == 'power': p = np.exp(fit_pred([np.log(nh)], tr, te, np.log(n)))
            else: p = np.exp(fit_pred([np.log(nh / lh), np.log(lh)], tr, te, np.log(n)))
            cells.append(f'{r2(p, n[te]):+.2f} / {nrmse(p, n[te]):.3f}')
        print(f'{w:11s} {cal:12s} ' + ' | '.join(f'{c:>15s}' for c in cells))
