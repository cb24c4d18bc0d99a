from common import *
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.loso import pls_fit, pls_predict, pls_choose
from edgeinv.apps.leaf_nitrogen.features import preprocess
wl,R,sp,d=load(); n=d['N_g_m2']
X=np.stack([preprocess(LeafSpectrum(sample='x',wavelength_nm=wl,reflectance=r,source='x',meta={}),config='trimmed') for r in R]).astype(float)
print(X.shape)
half=X.shape[1]//2
for nm,x in [('model input (logR + deriv)',X),('model input deriv half',X[:,half:]),('model input logR half',X[:,:half])]:
    line=f'{nm:28s}'
    for s in np.unique(sp):
        tr,te=sp!=s,sp==s
        a=pls_choose(x[tr],n[tr]); p=pls_predict(pls_fit(x[tr],n[tr],a),x[te])
        line+=f' | {s} R2 {r2(p,n[te]):+.2f} NRMSE {nrmse(p,n[te]):.3f} ({a})'
    print(line,flush=True)
