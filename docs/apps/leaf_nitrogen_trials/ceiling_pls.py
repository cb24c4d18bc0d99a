import sys; sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[3]))
from load import *
import numpy as np
from edgeinv.apps.leaf_nitrogen.loso import pls_fit, pls_predict, pls_choose
wl,R,sp,d=load()
grid=np.arange(500,2401,10); X=np.stack([np.interp(grid,wl,r) for r in R])
A=np.log(1/X); D=np.gradient(A,axis=1)
def r2(p,t): return 1-np.sum((p-t)**2)/np.sum((t-t.mean())**2)
from edgeinv.apps.leaf_nitrogen.diagnose import _nested_loo_pls as nested_loo  # components by inner LOO, at most 8
def best_loo(x,y,maxc=8):
    out=[]
    for a in range(1,maxc+1):
        p=np.array([pls_predict(pls_fit(x[np.arange(len(y))!=i],y[np.arange(len(y))!=i],a),x[i:i+1])[0] for i in range(len(y))])
        out.append(r2(p,y))
    return max(out), int(np.argmax(out))+1
for s in np.unique(sp):
    m=sp==s
    for tgt in ['N_g_m2','LMA_g_m2']:
        y=d[tgt][m]
        for nm,x in [('R',X),('logR',A),('dlogR',D)]:
            p=nested_loo(x[m],y)
            b,bc=best_loo(x[m],y)
            print(f'{s} {tgt:8s} {nm:6s} nestedLOO R2 {r2(p,y):+.2f} NRMSE {np.sqrt(np.mean((p-y)**2))/np.ptp(y):.3f} | best-ncomp LOO R2 {b:+.2f} ({bc})',flush=True)
    y=d['N_g_m2'][m]/d['LMA_g_m2'][m]*100
    p=nested_loo(X[m],y); print(f'{s} Nmass    R      nestedLOO R2 {r2(p,y):+.2f}',flush=True)
