from common import *
import json
wl,R,sp,d=load(); n=d['N_g_m2']
rows=json.load(open('real0.json'))['rows']
rng=np.random.default_rng(0)
for nm in ['hybrid_n_g_m2','model_n_g_m2','iterative_n_g_m2']:
    e=np.array([r[nm] for r in rows]); line=f'{nm:18s}'
    for s in np.unique(sp):
        ix=np.where(sp==s)[0]; o=ix[np.argsort(n[ix])]; h=len(o)//2
        low,high=o[:h],o[-h:]
        t=n[low].mean()/n[high].mean(); p=e[low].mean()/e[high].mean()
        line+=f' | {s} NSI true {t:.2f} est {p:.2f}'
    print(line)
