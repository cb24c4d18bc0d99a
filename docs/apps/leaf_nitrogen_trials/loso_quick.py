from common import *
import json
wl,R,sp,d=load()
rows=json.load(open('real0.json'))['rows']
hyb=np.array([r['hybrid_n_g_m2'] for r in rows]); net=np.array([r['model_n_g_m2'] for r in rows]); it=np.array([r['iterative_n_g_m2'] for r in rows])
assert np.allclose([r['n_g_m2'] for r in rows], d['N_g_m2'])
n=d['N_g_m2']
print('oracle within-species linear recalibration R2 (= r^2): the best any species-independent calibration of that estimate could do')
for nm,e in [('hybrid',hyb),('network',net),('iterative',it)]:
    print(f'  {nm:9s}', ' '.join(f'{s} r {np.corrcoef(e[sp==s],n[sp==s])[0,1]:+.2f} r2 {np.corrcoef(e[sp==s],n[sp==s])[0,1]**2:.2f}' for s in np.unique(sp)))
print('LOSO of simple calibrations of the zero-shot hybrid / network')
for nm,e in [('hybrid',hyb),('network',net)]:
    for s in np.unique(sp):
        tr,te=sp!=s,sp==s
        k=np.sum(n[tr]*e[tr])/np.sum(e[tr]**2); off=np.mean(n[tr]-e[tr])
        print(f'  {nm:8s} {s}: none R2 {r2(e[te],n[te]):+.2f} | scale x{k:.3f} R2 {r2(k*e[te],n[te]):+.2f} NRMSE {nrmse(k*e[te],n[te]):.3f} | offset {off:+.2f} R2 {r2(e[te]+off,n[te]):+.2f}')
grid=np.arange(500,2401,10); X=np.stack([np.interp(grid,wl,r) for r in R]); A=np.log(1/X); D=np.gradient(A,axis=1)
from scipy.signal import savgol_filter
X1=np.stack([np.interp(np.arange(500,2401,5.),wl,r) for r in R]); D2=savgol_filter(np.log(1/X1),9,2,deriv=1,axis=1)
print('LOSO PLSR by input (components by LOO on the training species)')
for nm,x in [('R',X),('logR',A),('dlogR 10nm',D),('dlogR SG 5nm',D2),('logR SNV',(A-A.mean(1,keepdims=True))/A.std(1,keepdims=True))]:
    print(f'  {nm:12s}'+loso_pls_line(x,n,sp),flush=True)
