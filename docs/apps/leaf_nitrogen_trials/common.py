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
STRUCT=((800,1300),(1500,1800),(2050,2400))
def nearest_model(wl,r,c):
    """N struct fitted over NIR+SWIR windows with the measured chemistry; then pigments over 500-750."""
    dom=np.concatenate([np.arange(a,b+1.) for a,b in STRUCT]); const=optical_constants().subset(dom)
    rd=np.interp(dom,wl,r)
    sol=least_squares(lambda x: prospect_pro(constants=const,n_struct=x[0],chlorophyll_ug_cm2=0.,**c)[1]-rd,[1.5],bounds=([1.0],[4.0]))
    n=float(sol.x[0])
    dv=np.arange(500,751.); cv=optical_constants().subset(dv); rv=np.interp(dv,wl,r)
    s2=least_squares(lambda x: prospect_pro(constants=cv,n_struct=n,chlorophyll_ug_cm2=x[0]*10,carotenoid_ug_cm2=x[1]*2,anthocyanin_ug_cm2=x[2],**c)[1]-rv,[4,4,0.1],bounds=([0,0,0],[15,12,20]))
    cab,car,ant=s2.x[0]*10,s2.x[1]*2,s2.x[2]
    w,rm,_=prospect_pro(n_struct=n,chlorophyll_ug_cm2=cab,carotenoid_ug_cm2=car,anthocyanin_ug_cm2=ant,wavelength_nm=wl,**c)
    return rm, dict(n_struct=n,cab=cab,car=car,ant=ant,**c)
