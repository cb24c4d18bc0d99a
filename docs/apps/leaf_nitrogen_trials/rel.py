from common import *
import json
wl,R,sp,d=load(); n=d['N_g_m2']
rows=json.load(open('real0.json'))['rows']
for nm in ['hybrid_n_g_m2','model_n_g_m2','iterative_n_g_m2']:
    e=np.array([r[nm] for r in rows]); line=f'{nm:18s}'
    for s in np.unique(sp):
        m=sp==s; pr=e[m]/e[m].mean(); tr=n[m]/n[m].mean()
        line+=f' | {s} relative-N R2 {r2(pr,tr):+.2f} rmse {np.sqrt(np.mean((pr-tr)**2)):.3f} (sd {tr.std():.2f})'
    print(line)
