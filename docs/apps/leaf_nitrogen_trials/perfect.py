from common import *
import pickle
from edgeinv.apps.leaf_nitrogen.hybrid import physics_estimate
wl,R,sp,d=load(); K=pickle.load(open('nearest.pkl','rb')); M,P,E=K['M'],K['P'],K['E']
rng=np.random.default_rng(5)
sets={'perfect physics (model spectra + 0.5% / 0.001 noise)': M*(1+0.005*rng.standard_normal(M.shape))+0.001*rng.standard_normal(M.shape)}
perm=np.arange(len(R))
for s in np.unique(sp):
    ix=np.where(sp==s)[0]; perm[ix]=np.roll(ix,1)
sets['model spectra + another same-species leaf mismatch']=M+E[perm]
sets['model spectra + own species mean mismatch']=M+np.array([E[sp==sp[i]].mean(0) for i in range(len(R))])
sets['real spectra']=R
for name,S in sets.items():
    est=np.array([physics_estimate(LeafSpectrum(sample='x',wavelength_nm=wl,reflectance=S[i],source='x',meta={}))['protein_g_cm2']*1e4/F for i in range(len(R))])
    line=f'{name:52s}'
    for s in np.unique(sp):
        m=sp==s; t=d['N_g_m2'][m]
        line+=f' | {s} R2 {r2(est[m],t):+.2f} NRMSE {nrmse(est[m],t):.3f} bias {np.mean(est[m]-t):+.2f} r {np.corrcoef(est[m],t)[0,1]:.2f}'
    print(line,flush=True)
