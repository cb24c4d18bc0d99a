from common import *
import json, pickle
wl,R,sp,d=load(); K=pickle.load(open('nearest.pkl','rb')); P=K['P']
rows=json.load(open('real0.json'))['rows']
hyb=np.array([r['hybrid_n_g_m2'] for r in rows]); net=np.array([r['model_n_g_m2'] for r in rows]); n=d['N_g_m2']
hl=np.array([r['hybrid_lma_g_m2'] for r in rows])
feat={'N':n,'LMA':d['LMA_g_m2'],'H2O':d['H20_g_m2'],'Nmass':n/d['LMA_g_m2'],'Cmass':d['C_g_m2']/d['LMA_g_m2'],'C/N':d['C_g_m2']/n,'water/dry':d['H20_g_m2']/d['LMA_g_m2'],'Nstruct(fit)':np.array([p['n_struct'] for p in P]),'Cab(fit)':np.array([p['cab'] for p in P])}
for nm,e in [('hybrid N error',hyb-n),('network N error',net-n),('hybrid LMA error',hl-d['LMA_g_m2'])]:
    print(nm)
    for s in np.unique(sp):
        m=sp==s
        print('  ',s,' '.join(f'{k} {np.corrcoef(e[m],v[m])[0,1]:+.2f}' for k,v in feat.items()))
print('species means', {s:{k:round(float(np.mean(v[sp==s])),3) for k,v in feat.items()} for s in np.unique(sp)})
