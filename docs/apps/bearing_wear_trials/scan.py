import pickle, numpy as np, sys
from scipy import stats
from edgeinv.apps.bearing_wear import severity as S
rows = pickle.load(open(sys.argv[1],'rb')); H = pickle.load(open(sys.argv[2],'rb'))
key = sys.argv[3] if len(sys.argv) > 3 else "acf"
hp = np.array([S.entry_exit(h[key], limit_mm=h["limit"])["prominence"] for h in H])
ms = sorted(set(r["machine"] for r in rows))
B = [S.entry_exit(r[key], limit_mm=r["limit"]) for r in rows]
def ev(thr, fb):
    vals=[]
    for r,b in zip(rows,B):
        if b["length_mm"] is not None and b["prominence"]>=thr: vals.append(b["length_mm"])
        elif fb=="squash": vals.append(r["limit"]*r["model"]/(r["model"]+r["limit"]))
        else: vals.append(r["model"])
    rho=[]
    for m in ms:
        ii=[i for i,r in enumerate(rows) if r["machine"]==m]
        v=[vals[i] for i in ii]
        rho.append(0.0 if np.ptp(v)==0 else stats.spearmanr([rows[i]["size"] for i in ii], v).statistic)
    rho=np.array(rho); return rho.mean(), np.mean(rho>=0.8)
for q in (0.5,0.75,0.9,0.95,0.99):
    t=np.quantile(hp,q)
    print(q, round(t,3), "squash", np.round(ev(t,"squash"),3), "model", np.round(ev(t,"model"),3))
