"""Issue 14, stop 24 (rejected): the hybrid with PHYSICS_SD re-measured on simulated leaves drawn like training
(physics_sd.py: protein 4.7e-4 g/cm2 instead of 1.8e-4), from the per-leaf estimates of estimates.py.

python physics_sd_combine.py [estimates.pkl]: zero-shot NRMSE / R2 and +-1 / +-2 sigma coverage per species for the
protein PHYSICS_SD shipped (1.8e-4), the robust (3.2e-4) and plain RMSE (4.7e-4) of physics_sd.py, and physics weight
0; then leave-one-species-out on the hybrid's N (x scale / + linear fitted on the other two species)."""
import pickle, sys
from pathlib import Path
from common import *
from edgeinv.apps.leaf_nitrogen.hybrid import RAMP, NETWORK_EDGE_FACTOR, DISAGREEMENT_SHARE, MODEL_ERROR_REL
wl, R, sp, d = load(); n = d['N_g_m2']
est = pickle.load(open(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name('estimates.pkl'), 'rb'))
g = lambda w, k: np.array([e[w].get(k, np.nan) for e in est])
score = np.array([e['info']['ood_score'] for e in est])
k = 1e4/F
pn, sn, pp = g('net','protein_g_cm2')*k, g('net','protein_g_cm2_std')*k, g('phys','protein_g_cm2')*k
ramp = np.clip((score-1)/RAMP,0,1)
s_n = sn*(1+ramp*(NETWORK_EDGE_FACTOR*np.sqrt(np.maximum(score,1))-1))
for psd in (1.8e-4, 3.2e-4, 4.7e-4, 1.0):
    s_p = psd*k
    w = 1-ramp*(1-s_p**2/(s_n**2+s_p**2))
    m = w*pn+(1-w)*pp
    s = np.hypot(np.sqrt(w**2*s_n**2+(1-w)**2*s_p**2+(MODEL_ERROR_REL*m)**2+ramp*(DISAGREEMENT_SHARE*np.where(ramp>0,pn-pp,0))**2), 0.1*m)
    z=(m-n)/s
    print(f'PHYSICS_SD protein {psd:.2g}:', ' | '.join(f'{q} {nrmse(m[sp==q],n[sp==q]):.3f} / {r2(m[sp==q],n[sp==q]):+.2f} cov {np.mean(abs(z[sp==q])<=1):.2f} {np.mean(abs(z[sp==q])<=2):.2f} w_phys {np.median(1-w[sp==q]):.2f}' for q in np.unique(sp)),
          f'| all {nrmse(m,n):.3f} / {r2(m,n):+.2f}')
print('LOSO on the hybrid N: x scale / + linear fitted on the other two species (R2 on the held-out)')
for psd in (1.8e-4, 4.7e-4):
    s_p = psd*k
    w = 1-ramp*(1-s_p**2/(s_n**2+s_p**2))
    m = w*pn+(1-w)*pp
    cells=[]
    for q in np.unique(sp):
        tr, te = sp!=q, sp==q
        c = np.sum(m[tr]*n[tr])/np.sum(m[tr]**2)
        b, a = np.polyfit(m[tr], n[tr], 1)
        cells.append(f'{q} {r2(c*m[te],n[te]):+.2f} / {r2(a+b*m[te],n[te]):+.2f}')
    print(f'PHYSICS_SD {psd:.2g}:', ' | '.join(cells))
