from common import *
import pickle
wl,R,sp,d=load(); K=pickle.load(open('nearest.pkl','rb')); M,P,E=K['M'],K['P'],K['E']
DOMS={'published prot 2100-2139,2160-2179':[(2100,2139),(2160,2179)],
      'wide 2050-2400':[(2050,2400)],
      '1500-1800':[(1500,1800)],
      'SWIR 1500-1800+2050-2400':[(1500,1800),(2050,2400)],
      '2150-2300 (N-H/C-H combination)':[(2150,2300)]}
def jac(p,dom,names):
    const=optical_constants().subset(dom); base={k:p[k] for k in ('protein_g_cm2','cbc_g_cm2','ewt_g_cm2')}
    def f(q): return prospect_pro(constants=const,n_struct=p['n_struct'],chlorophyll_ug_cm2=0.,**q)[1]
    r0=f(base); J=[]
    for k in names:
        h=base[k]*1e-3; q=dict(base); q[k]+=h; J.append((f(q)-r0)/h)
    return np.array(J).T
for name,dd in DOMS.items():
    dom=np.concatenate([np.arange(a,b+1.) for a,b in dd]); idx=np.searchsorted(wl,dom)
    for extra in ([],['offset']):
        dN=[]; sig=[]
        for i in range(len(R)):
            J=jac(P[i],dom,['protein_g_cm2','cbc_g_cm2','ewt_g_cm2'])
            if extra: J=np.column_stack([J,np.ones(len(dom))])
            coef=np.linalg.lstsq(J,E[i][idx],rcond=None)[0]
            dN.append(coef[0]*1e4/F)
        dN=np.array(dN)
        line=f'{name:36s} {"+offset" if extra else "       "} '
        for s in np.unique(sp):
            m=sp==s; n=d['N_g_m2'][m]
            line+=f'| {s} mismatch-N mean {dN[m].mean():+.2f} sd {dN[m].std():.2f} corr(N) {np.corrcoef(dN[m],n)[0,1]:+.2f} (N sd {n.std():.2f}) '
        print(line,flush=True)
