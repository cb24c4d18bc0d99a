from common import *
import pickle
wl,R,sp,d=load(); est=pickle.load(open('phys.pkl','rb')); n=d['N_g_m2']
ph=np.array([e['protein_g_cm2'] for e in est])*1e4/F; err=ph-n
wd=d['H20_g_m2']/d['LMA_g_m2']; cs=d['C_g_m2']/d['LMA_g_m2']*100
Xw=np.column_stack([wd,cs]); 
# within-species centred regression
Xc=Xw.copy(); ec=err.copy()
for s in np.unique(sp):
    m=sp==s; Xc[m]-=Xw[m].mean(0); ec[m]-=err[m].mean()
beta=np.linalg.lstsq(Xc,ec,rcond=None)[0]
print('within-species slopes: dErr/d(water/dry) %+.3f g/m2 per unit, dErr/d(C%%) %+.3f g/m2 per point'%tuple(beta))
gm=Xw.mean(0)
for s in np.unique(sp):
    m=sp==s
    pred=(Xw[m].mean(0)-gm)@beta
    print(f'{s}: species mean water/dry {wd[m].mean():.2f} C% {cs[m].mean():.1f} | bias {err[m].mean():+.2f} | bias predicted from within-species slopes (relative to the 3-species mean) {pred:+.2f}  (observed minus 3-species mean {err[m].mean()-err.mean():+.2f})')
# leave-one-species-out version of the same check
for s in np.unique(sp):
    tr=sp!=s; b=np.linalg.lstsq(Xc[tr],ec[tr],rcond=None)[0]
    m=sp==s; print(f'  LOSO slopes without {s}: {b.round(3)}; predicted relative bias {(Xw[m].mean(0)-Xw[tr].mean(0))@b:+.2f} vs observed {err[m].mean()-err[tr].mean():+.2f}')
