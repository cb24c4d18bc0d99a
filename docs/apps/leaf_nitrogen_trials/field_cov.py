"""Issue 14, item 3: is the field mean's interval honest? Each species of the Ely table is one "field" measured with
one instrument: its mean N per area (and per mass) from the shipped edge path against the measured mean, with the
advice's standard error before (leaf sigmas averaged as if independent) and after the shared part
(interpret.SHARED_REL_SD: factor + species-level model error, not fitted here) is added in full.
python field_cov.py [estimates.pkl]. Also random sub-fields of 10 leaves per species (200 draws)."""
import pickle, sys
from pathlib import Path
from common import *
from edgeinv.apps.leaf_nitrogen.interpret import interpret_leaf
from edgeinv.apps.leaf_nitrogen.realdata import read_table
wl, R, sp, d = load(); n = d['N_g_m2']; npct = 100 * n / d['LMA_g_m2']
est = pickle.load(open(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name('estimates.pkl'), 'rb'))
table = read_table(P)
res = [interpret_leaf(e['hyb'], t['leaf'], config='trimmed', info=e['info']) for e, t in zip(est, table)]
v = lambda k: np.array([r.values.get(k) for r in res], float)
s = lambda k: np.array([r.stds.get(k) for r in res], float)
shared = np.array([r.shared_rel_sd for r in res])
def se_pair(idx, key):
    x, sx = v(key)[idx], s(key)[idx]
    se = np.sqrt((x.std(ddof=1) ** 2 + np.mean(sx ** 2)) / len(idx))
    return x.mean(), se, np.hypot(se, np.mean(shared[idx]) * x.mean())
rng = np.random.default_rng(0)
for key, truth, unit in (('nitrogen_g_m2', n, 'g/m2'), ('nitrogen_percent', npct, '%')):
    print(f'{key}: species mean estimate vs measured; z = error / se (before: independent leaves; after: + shared)')
    for s_ in np.unique(sp):
        idx = np.flatnonzero(sp == s_)
        m, se, se2 = se_pair(idx, key)
        zs = []
        for _ in range(200):
            sub = rng.choice(idx, 10, replace=False)
            m_, a, b = se_pair(sub, key)
            zs.append(((m_ - truth[sub].mean()) / a, (m_ - truth[sub].mean()) / b))
        zs = np.abs(np.array(zs))
        print(f'  {s_:6s} est {m:.3f} measured {truth[idx].mean():.3f} {unit}: error {m - truth[idx].mean():+.3f}, '
              f'se {se:.3f} -> {se2:.3f}, z {(m - truth[idx].mean()) / se:+.1f} -> {(m - truth[idx].mean()) / se2:+.1f}; '
              f'10-leaf fields within 95 % interval {np.mean(zs[:, 0] <= 1.96):.0%} -> {np.mean(zs[:, 1] <= 1.96):.0%}')
