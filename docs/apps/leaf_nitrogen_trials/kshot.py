"""Issue 14, item 2: what a real user does -- calibrate with k leaves of their OWN species (plus the other species'
leaves), score that species' remaining leaves. python kshot.py [estimates.pkl] [DRAWS]. Per species and k, DRAWS
random draws of the k calibration leaves (seed 0); on the same draws:
  hybrid x own scale   the zero-shot edge path's N times one factor fitted on the k own leaves (= that species'
                       N-to-protein factor; what leafcal.own_species_scale ships)
  network x own scale  the same on the network alone
  PLSR                 reflectance at 10 nm (the `loso` yardstick), fitted on the other species + the k own leaves
Median R2 / NRMSE on the remaining leaves and the share of draws with R2 >= 0.75. k = 0 is leave-one-species-out
(zero-shot for the scaled columns)."""
import pickle, sys
from pathlib import Path
from common import *
from edgeinv.apps.leaf_nitrogen.loso import _pls_inputs, pls_choose, pls_fit, pls_predict
from edgeinv.apps.leaf_nitrogen.realdata import read_table
wl, R, sp, d = load(); n = d['N_g_m2']
est = pickle.load(open(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name('estimates.pkl'), 'rb'))
draws = int(sys.argv[2]) if len(sys.argv) > 2 else 50
nh = {w: np.array([e[w]['protein_g_cm2'] for e in est]) * 1e4 / F for w in ('hyb', 'net')}
x = _pls_inputs([t['leaf'] for t in read_table(P)])
rng = np.random.default_rng(0)
print(f'{draws} draws; cells: median R2 / median NRMSE / share of draws with R2 >= 0.75 on the remaining leaves')
for s in np.unique(sp):
    own = np.flatnonzero(sp == s)
    for k in (0, 3, 5, 10):
        res = {m: [] for m in ('hybrid x own scale', 'network x own scale', 'PLSR')}
        for _ in range(draws if k else 1):
            cal = rng.choice(own, k, replace=False) if k else own[:0]
            test = np.setdiff1d(own, cal)
            for w, m in (('hyb', 'hybrid x own scale'), ('net', 'network x own scale')):
                c = np.sum(nh[w][cal] * n[cal]) / np.sum(nh[w][cal] ** 2) if k else 1.0
                res[m].append((r2(c * nh[w][test], n[test]), nrmse(c * nh[w][test], n[test])))
            tr = np.concatenate([np.flatnonzero(sp != s), cal])
            p = pls_predict(pls_fit(x[tr], n[tr], pls_choose(x[tr], n[tr])), x[test])
            res['PLSR'].append((r2(p, n[test]), nrmse(p, n[test])))
        cells = []
        for m, v in res.items():
            v = np.array(v)
            cells.append(f'{m} {np.median(v[:, 0]):+.2f} / {np.median(v[:, 1]):.3f} / {np.mean(v[:, 0] >= 0.75):.0%}')
        print(f'{s:6s} k={k:2d}  ' + ' | '.join(cells), flush=True)
