"""The hybrid edge path with a coef_aug.py model, offline: network N, off-manifold score against a reference set
built with nominal or perturbed coefficients, physics where it fires (phys.pkl from phys_all.py).

python coef_aug_hybrid.py MODEL.onnx  (AUG_* as for coef_aug.py, used for the perturbed reference)
"""
import sys
from common import *
import pickle, os
import importlib.util
from edgeinv.apps.leaf_nitrogen import APP, hybrid, simulate as S
from edgeinv.apps.leaf_nitrogen.physics import nitrogen_area_g_m2
from edgeinv.apps.leaf_nitrogen.realdata import read_table
from edgeinv.common.runtime.session import load_model
from pathlib import Path
wl,R,sp,d=load(); n=d['N_g_m2']; est=pickle.load(open('phys.pkl','rb'))
phys=np.array([e['protein_g_cm2'] for e in est])*1e4/F
run=load_model(sys.argv[1],threads=1)
x=np.stack([APP.preprocess(LeafSpectrum(sample='x',wavelength_nm=wl,reflectance=r,source='x',meta={}),config='trimmed') for r in R])
net=np.asarray(nitrogen_area_g_m2(protein_g_cm2=np.maximum(np.asarray(run(x)['protein_g_cm2']).reshape(-1),0)))
def report(tag,score):
    w=np.clip((score-1)/hybrid.RAMP,0,1); h=(1-w)*net+w*phys
    print(tag, ' | '.join(f"{s} hybrid R2 {r2(h[sp==s],n[sp==s]):+.2f} NRMSE {nrmse(h[sp==s],n[sp==s]):.3f} bias {np.mean(h[sp==s]-n[sp==s]):+.2f} physics-led {np.mean(w[sp==s]>0.5):.0%}" for s in np.unique(sp)), flush=True)
print('network alone', ' | '.join(f"{s} R2 {r2(net[sp==s],n[sp==s]):+.2f} NRMSE {nrmse(net[sp==s],n[sp==s]):.3f} bias {np.mean(net[sp==s]-n[sp==s]):+.2f}" for s in np.unique(sp)))
report('nominal reference ', hybrid.ood_score(x,config='trimmed')['score'])
spec=importlib.util.spec_from_file_location('ca',str(Path(__file__).with_name('coef_aug_forward.py'))); ca=importlib.util.module_from_spec(spec); spec.loader.exec_module(ca)
S.forward=ca.make_forward(); hybrid._reference.cache_clear()
report('perturbed reference', hybrid.ood_score(x,config='trimmed')['score'])
