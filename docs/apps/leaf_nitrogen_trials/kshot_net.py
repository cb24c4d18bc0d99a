"""Issue 14, item 2, the network path: the core calibration (`calibrate`, <= 60 epochs, 2 000 simulations) on the
other species + k leaves of the held-out species, scored on that species' remaining leaves (they are relabelled
as their own group in a scratch copy of the table, written to the current folder, and held out with
--holdout-group). python kshot_net.py [DRAWS] [estimates.pkl] [SEED] [SPECIES,...]. Prints R2 / NRMSE of N per area per draw, with the
zero-shot edge path x own-species scale on the same draw (paired)."""
import csv, pickle, sys, tempfile
from pathlib import Path
from common import *
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.finetune import EPOCHS
from edgeinv.common.calibrate import CalibrationOptions, calibrate
from edgeinv.common.config import load_settings
wl, R, sp, d = load(); n = d['N_g_m2']
draws = int(sys.argv[1]) if len(sys.argv) > 1 else 2
est = pickle.load(open(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).with_name('estimates.pkl'), 'rb'))
nh = np.array([e['hyb']['protein_g_cm2'] for e in est]) * 1e4 / F
rows = list(csv.reader(open(P, newline='', encoding='utf-8-sig')))
col = rows[0].index('Species_Code')
# the table's leaves that read_table keeps, in its order (a leaf without N is skipped)
kept = [i for i, r in enumerate(rows[1:], start=1) if r[rows[0].index('N_g_m2')] not in ('', 'NA')]
assert len(kept) == len(n), (len(kept), len(n))
rng = np.random.default_rng(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
settings = load_settings()
for s in (sys.argv[4].split(',') if len(sys.argv) > 4 else np.unique(sp)):
    own = np.flatnonzero(sp == s)
    for k in (3, 5):
        for j in range(draws):
            cal = rng.choice(own, k, replace=False); test = np.setdiff1d(own, cal)
            out = [list(r) for r in rows]
            for i in test:
                out[kept[i]][col] = 'TEST'
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / 'table.csv'
                csv.writer(open(path, 'w', newline='')).writerows(out)
                rep = calibrate(APP, path, path, Path(tmp) / 'rel', settings=settings, progress=False,
                                options=CalibrationOptions(epochs=EPOCHS, lr=1e-4, n_sim=2000, seed=j, holdout_group='TEST'))
            m = {w: rep['heldout'][w]['protein_g_cm2'] for w in ('before', 'after')}
            c = np.sum(nh[cal] * n[cal]) / np.sum(nh[cal] ** 2)
            print(f"{s} k={k} draw {j}: network calibrated R2 {m['after']['r2']:+.2f} NRMSE "
                  f"{m['after']['rmse'] * 1e4 / F / np.ptp(n[test]):.3f} (before {m['before']['r2']:+.2f}; best epoch "
                  f"{rep['best_epoch']}, {rep['trained_on']} trained / {rep['validated_on']} validation) | hybrid x own "
                  f"scale R2 {r2(c * nh[test], n[test]):+.2f} NRMSE {nrmse(c * nh[test], n[test]):.3f}", flush=True)
