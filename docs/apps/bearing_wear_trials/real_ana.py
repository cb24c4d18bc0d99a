import pickle, numpy as np, sys
from scipy import stats
from edgeinv.apps.bearing_wear import severity as S, features as F
rows = pickle.load(open("/tmp/h1w/realsev.pkl","rb")); H = pickle.load(open("/tmp/h1w/healthy2.pkl","rb"))
L = F.SIZE_AXIS_MM
def centroid(r): w=np.maximum(r,0); return float((L*w).sum()/(w.sum()+1e-12))
def thr(key,q): return float(np.quantile([S.entry_exit(h[key], limit_mm=h["limit"])["prominence"] for h in H], q))
key = sys.argv[1] if len(sys.argv)>1 else "acf"
t90, t99 = thr(key,0.9), thr(key,0.99)
def bump(r,t):
    b=S.entry_exit(r[key], limit_mm=r["limit"]); return b["length_mm"] if (b["length_mm"] is not None and b["prominence"]>=t) else None
C = {"shipped(0.181|model)": lambda r: bump(r,0.181) or r["model"],
     "q99|model": lambda r: bump(r,t99) or r["model"],
     "q90|squash(model)": lambda r: bump(r,t90) or r["limit"]*r["model"]/(r["model"]+r["limit"]),
     "q90|squash(c+model)": lambda r: bump(r,t90) or r["limit"]*(centroid(r[key])+r["model"])/(centroid(r[key])+r["model"]+r["limit"]),
     "model+centroid": lambda r: r["model"]+centroid(r[key]), "centroid": lambda r: centroid(r[key]), "model": lambda r: r["model"]}
for r in rows:
    b=S.entry_exit(r[key], limit_mm=r["limit"])
    print(f'{r["file"]:22s} lim {r["limit"]:.2f} bump {b["length_mm"]} prom {b["prominence"]:.3f} model {r["model"]:.2f} cent {centroid(r[key]):.2f}')
print("thr q90 %.3f q99 %.3f" % (t90, t99))
groups = {}
for r in rows: groups.setdefault((r["file"].split("/")[0], r["fault"], r["rpm"]), []).append(r)
for name, f in C.items():
    out=[]
    for g, rs in sorted(groups.items()):
        v=[f(r) for r in rs]; out.append(stats.spearmanr([r["deg"] for r in rs], v).statistic)
    print(f"{name:22s}", " ".join(f"{o:5.2f}" for o in out), " ordered", sum(o>=0.99 for o in out), "/", len(out), "mean %.3f" % np.mean(out))
print([g for g in sorted(groups)])
