from common import *
import pickle
from edgeinv.apps.leaf_nitrogen.loso import pls_fit, pls_predict, pls_choose
wl,R,sp,d=load(); est=pickle.load(open('phys.pkl','rb')); n=d['N_g_m2']
ph=np.array([e['protein_g_cm2'] for e in est])*1e4/F; err=ph-n
wd_true=d['H20_g_m2']/d['LMA_g_m2']; cs_true=d['C_g_m2']/d['LMA_g_m2']*100
wd_est=np.array([e['ewt_g_cm2']/e['lma_g_cm2'] for e in est])
grid=np.arange(500,2401,10); A=np.log(1/np.stack([np.interp(grid,wl,r) for r in R]))
def centred(X,err,sp,mask):
    Xc=X[mask].copy(); ec=err[mask].copy(); s_=sp[mask]
    for s in np.unique(s_):
        m=s_==s; Xc[m]-=Xc[m].mean(0); ec[m]-=ec[m].mean()
    return np.linalg.lstsq(Xc,ec,rcond=None)[0]
for s in np.unique(sp):
    tr,te=sp!=s,sp==s
    a=pls_choose(A[tr],cs_true[tr]); cs_hat=pls_predict(pls_fit(A[tr],cs_true[tr],a),A)
    print(f'{s}: C% by PLSR on the other two: R2 within held-out {r2(cs_hat[te],cs_true[te]):+.2f}, mean {cs_hat[te].mean():.1f} vs true {cs_true[te].mean():.1f}')
    for nm,X in [('true wd, true C%',np.column_stack([wd_true,cs_true])),('est wd only',wd_est[:,None]),('est wd, PLSR C%',np.column_stack([wd_est,cs_hat]))]:
        b=centred(X,err,sp,tr)
        # correction: subtract predicted error relative to the training species' pooled mean error
        corr_=(X-X[tr].mean(0))@b + err[tr].mean()
        p=ph-corr_
        print(f'   {nm:18s} R2 {r2(p[te],n[te]):+.2f} NRMSE {nrmse(p[te],n[te]):.3f} bias {np.mean(p[te]-n[te]):+.2f}')
