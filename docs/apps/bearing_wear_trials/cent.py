import pickle, numpy as np, sys
from scipy import stats
from edgeinv.apps.bearing_wear import severity as S, features as F
rows = pickle.load(open(sys.argv[1],'rb'))
L = F.SIZE_AXIS_MM
def centroid(r, lo_mm, p=1):
    m = L >= lo_mm
    w = np.maximum(r[m], 0) ** p
    return float((L[m] * w).sum() / (w.sum() + 1e-12))
def mom(r, lo_mm):
    m = L >= lo_mm
    return float((L[m] * np.maximum(r[m],0)).sum())
ms = sorted(set(r["machine"] for r in rows))
def evalf(f):
    rho = {"outer_race": [], "inner_race": []}
    for m in ms:
        pts=[r for r in rows if r["machine"]==m]
        v=[f(r) for r in pts]
        rho[pts[0]["fault"]].append(0.0 if np.ptp(v)==0 else stats.spearmanr([r["size"] for r in pts], v).statistic)
    a=np.array(rho["outer_race"]+rho["inner_race"])
    return round(a.mean(),3), round(np.mean(a>=0.8),3), round(np.mean(rho["outer_race"]),3), round(np.mean(rho["inner_race"]),3)
for key in ("acf","acf_g0","acf_g1"):
    for lo in (0.0, 0.05, 0.1):
        for p in (1,2):
            print(key, lo, p, "centroid", evalf(lambda r: centroid(r[key], lo, p)))
    print(key, "first moment", evalf(lambda r: mom(r[key], 0.05)))
print("model", evalf(lambda r: r["model"]))
H = pickle.load(open(sys.argv[2],'rb'))
def thr(key,q): return float(np.quantile([S.entry_exit(h[key], limit_mm=h["limit"])["prominence"] for h in H], q))
for key in ("acf","acf_g0"):
    for q in (0.9,0.95,0.99):
        t=thr(key,q)
        def bump(r):
            b=S.entry_exit(r[key], limit_mm=r["limit"]); return b["length_mm"] if (b["length_mm"] is not None and b["prominence"]>=t) else None
        def c_sq(r):
            b=bump(r); c=centroid(r[key],0.0,1)
            return b if b is not None else r["limit"]*c/(c+r["limit"])
        def c_sum(r):
            b=bump(r); c=centroid(r[key],0.0,1)
            return b if b is not None else r["limit"]*(c+r["model"])/(c+r["model"]+r["limit"])
        print(key,q,"bump|centroid", evalf(c_sq), "bump|cent+model", evalf(c_sum))
    print(key,"model+centroid", evalf(lambda r: r["model"]+centroid(r[key],0.0,1)), "model+2c", evalf(lambda r: r["model"]+2*centroid(r[key],0.0,1)))
