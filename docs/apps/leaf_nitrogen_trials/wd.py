from common import *
import json, pickle
wl,R,sp,d=load(); est=pickle.load(open('phys.pkl','rb')); n=d['N_g_m2']
rows=json.load(open('real0.json'))['rows']; net=np.array([r['model_n_g_m2'] for r in rows])
ph=np.array([e['protein_g_cm2'] for e in est])*1e4/F; wd=np.array([e['ewt_g_cm2']/e['lma_g_cm2'] for e in est]); lma=np.array([e['lma_g_cm2'] for e in est])*1e4
print('estimated water/dry per species', {s: round(float(wd[sp==s].mean()),2) for s in np.unique(sp)}, 'true', {s: round(float((d['H20_g_m2']/d['LMA_g_m2'])[sp==s].mean()),2) for s in np.unique(sp)})
print('corr(est w/d, true w/d)', np.corrcoef(wd, d['H20_g_m2']/d['LMA_g_m2'])[0,1].round(2))
for nm,e in [('physics',ph),('network',net)]:
  for feats in (['wd'],['wd','lma']):
    line=f'{nm} N ~ a + b*N_est + c*{"+".join(feats)}:'
    for s in np.unique(sp):
        tr,te=sp!=s,sp==s
        Xf=lambda m: np.column_stack([np.ones(m.sum()),e[m]]+[{'wd':wd,'lma':lma}[f][m] for f in feats])
        c=np.linalg.lstsq(Xf(tr),n[tr],rcond=None)[0]; p=Xf(te)@c
        line+=f' | {s} R2 {r2(p,n[te]):+.2f} NRMSE {nrmse(p,n[te]):.3f}'
    print(line)
