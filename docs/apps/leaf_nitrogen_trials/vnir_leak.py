"""Issue 14, item 1c: does the network's species bias come through the prior's chlorophyll-N correlation? The shipped
trimmed network on each real leaf as measured, and with its 500-NIR_NM nm part replaced by the mean of all 64 leaves
(joined continuously at NIR_NM: the leaf's own level there), so that no leaf's pigment features can carry N.
python vnir_leak.py [NIR_NM]. Per species: network N bias / R2 / within-species r, measured vs VNIR neutralised;
the change in N per leaf (median, g/m2). Uses the labels only to score."""
import json, sys
from pathlib import Path
from common import *
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.realdata import read_table
from edgeinv.common.runtime.session import load_model
cut = float(sys.argv[1]) if len(sys.argv) > 1 else 750.0
models = Path(__file__).resolve().parents[3] / 'models/leaf_nitrogen'
run = load_model(models / 'trimmed' / f"{json.load(open(models / 'manifest.json'))['configs']['trimmed']['chosen']}.onnx", threads=1)
table = read_table(P); wl = table[0]['leaf'].wavelength_nm; n = np.array([t['n_g_m2'] for t in table]); sp = np.array([t['species'] for t in table])
R = np.stack([t['leaf'].reflectance for t in table]); mean = R.mean(axis=0)
j = np.searchsorted(wl, cut)
def net_n(refl):
    leaves = [type(t['leaf'])(sample=t['leaf'].sample, wavelength_nm=wl, reflectance=r) for t, r in zip(table, refl)]
    x = np.stack([APP.preprocess(l, config='trimmed') for l in leaves])
    return np.asarray(run(x)['protein_g_cm2'], float).reshape(-1) * 1e4 / F
R2_ = R.copy(); R2_[:, :j] = mean[None, :j] * (R[:, j:j + 1] / mean[j])
a, b = net_n(R), net_n(R2_)
for s in np.unique(sp):
    m = sp == s
    print(f'{s:6s} measured: bias {np.mean(a[m] - n[m]):+.3f} R2 {r2(a[m], n[m]):+.2f} r {np.corrcoef(a[m], n[m])[0, 1]:.2f} | '
          f'500-{cut:.0f} nm neutralised: bias {np.mean(b[m] - n[m]):+.3f} R2 {r2(b[m], n[m]):+.2f} r {np.corrcoef(b[m], n[m])[0, 1]:.2f}'
          f' | N change median {np.median(b[m] - a[m]):+.3f} g/m2')
