from common import *
import pickle
wl,R,sp,d=load(); K=pickle.load(open('nearest.pkl','rb')); M,P,E=K['M'],K['P'],K['E']
DOMS={'published':[(2100,2139),(2160,2179)],'2050-2400':[(2050,2400)],'1500-1800+2050-2400':[(1500,1800),(2050,2400)],'1100-2400':[(1100,1300),(1500,1800),(2000,2400)]}
def jac(p,dom):
    const=optical_constants().subset(dom); base={k:p[k] for k in ('protein_g_cm2','cbc_g_cm2','ewt_g_cm2')}
    f=lambda q: prospect_pro(constants=const,n_struct=p['n_struct'],chlorophyll_ug_cm2=0.,**q)[1]
    r0=f(base); J=[]
    for k in base:
        h=base[k]*1e-3; q=dict(base); q[k]+=h; J.append((f(q)-r0)/h)
    h=0.01; J.append((prospect_pro(constants=const,n_struct=p['n_struct']+h,chlorophyll_ug_cm2=0.,**base)[1]-r0)/h)
    return np.array(J).T
species=np.unique(sp)
for name,dd in DOMS.items():
    dom=np.concatenate([np.arange(a,b+1.) for a,b in dd]); idx=np.searchsorted(wl,dom)
    Js=[jac(P[i],dom) for i in range(len(R))]
    for k in (0,1,2,3,5,8):
        for meansub in (False,True):
            line=f'{name:22s} k={k} {"mean-sub" if meansub else "        "}'
            for s in species:
                tr=sp!=s; Et=E[tr][:,idx]; mu=Et.mean(0) if meansub else 0*Et[0]
                U=np.linalg.svd(Et-Et.mean(0),full_matrices=False)[2][:k].T if k else np.zeros((len(dom),0))
                dN=[]
                for i in np.where(sp==s)[0]:
                    J=np.column_stack([Js[i],U]); dN.append(np.linalg.lstsq(J,E[i][idx]-mu,rcond=None)[0][0]*1e4/F)
                dN=np.array(dN); n=d['N_g_m2'][sp==s]
                # implied R2 if estimate = N + dN
                line+=f' | {s} mean {dN.mean():+.2f} sd {dN.std():.2f} R2 {r2(n+dN,n):+.2f}'
            print(line,flush=True)
