from common import *
import json, pickle
from edgeinv.apps.leaf_nitrogen.hybrid import physics_estimate
wl,R,sp,d=load()
est=[physics_estimate(LeafSpectrum(sample='x',wavelength_nm=wl,reflectance=R[i],source='x',meta={})) for i in range(len(R))]
pickle.dump(est,open('phys.pkl','wb'))
