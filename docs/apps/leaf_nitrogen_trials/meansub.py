from common import *
import pickle
from edgeinv.apps.leaf_nitrogen.hybrid import physics_estimate
wl,R,sp,d=load(); K=pickle.load(open('nearest.pkl','rb')); M,P,E=K['M'],K['P'],K['E']
n=d['N_g_m2']
for s in np.unique(sp):
    tr,te=sp!=s,sp==s
    mu=E[tr].mean(0)
    est=np.array([physics_estimate(LeafSpectrum(sample='x',wavelength_nm=wl,reflectance=R[i]-mu,source='x',meta={}))['protein_g_cm2']*1e4/F for i in np.where(te)[0]])
    print(s,'mean-mismatch subtracted: R2 %+.2f NRMSE %.3f bias %+.2f r %.2f'%(r2(est,n[te]),nrmse(est,n[te]),np.mean(est-n[te]),np.corrcoef(est,n[te])[0,1]),flush=True)
