import sys; sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[3]))
from load import *
import numpy as np
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro, optical_constants
from edgeinv.apps.leaf_nitrogen.baseline import least_squares, structure_from_fit
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
F=4.43
def r2(p,t): p,t=np.asarray(p),np.asarray(t); return 1-np.sum((p-t)**2)/np.sum((t-t.mean())**2)
def nrmse(p,t): return np.sqrt(np.mean((np.asarray(p)-t)**2))/np.ptp(t)
def chem(d,i):
    prot=d['N_g_m2'][i]*F/1e4; lma=d['LMA_g_m2'][i]/1e4
    return dict(protein_g_cm2=prot, cbc_g_cm2=max(lma-prot,1e-5), ewt_g_cm2=d['H20_g_m2'][i]/1e4)
from edgeinv.apps.leaf_nitrogen.diagnose import nearest_model as _nearest
def nearest_model(wl,r,c):
    """The app's nearest PROSPECT-PRO leaf with the measured chemistry (diagnose.nearest_model), trial key names."""
    rm,p=_nearest(wl,r,c)
    return rm, dict(n_struct=p['n_struct'],cab=p['chlorophyll_ug_cm2'],car=p['carotenoid_ug_cm2'],ant=p['anthocyanin_ug_cm2'],**c)


def loso_pls_line(x, n, sp):
    """Leave-one-species-out PLSR on inputs ``x`` (components by LOO on the training species): ' | sp R2 .. NRMSE ..' per species."""
    from edgeinv.apps.leaf_nitrogen.loso import pls_choose, pls_fit, pls_predict
    line = ''
    for s in np.unique(sp):
        tr, te = sp != s, sp == s
        a = pls_choose(x[tr], n[tr]); p = pls_predict(pls_fit(x[tr], n[tr], a), x[te])
        line += f' | {s} R2 {r2(p, n[te]):+.2f} NRMSE {nrmse(p, n[te]):.3f} ({a})'
    return line
