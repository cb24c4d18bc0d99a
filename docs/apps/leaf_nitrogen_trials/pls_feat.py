from common import *
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.features import preprocess
wl,R,sp,d=load(); n=d['N_g_m2']
X=np.stack([preprocess(LeafSpectrum(sample='x',wavelength_nm=wl,reflectance=r,source='x',meta={}),config='trimmed') for r in R]).astype(float)
print(X.shape)
half=X.shape[1]//2
for nm,x in [('model input (logR + deriv)',X),('model input deriv half',X[:,half:]),('model input logR half',X[:,:half])]:
    print(f'{nm:28s}'+loso_pls_line(x,n,sp),flush=True)
