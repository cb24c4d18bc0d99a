import pickle, numpy as np, sys
from scipy import stats
from edgeinv.apps.bearing_wear import severity as S, features as F
rows = pickle.load(open(sys.argv[1], "rb")); H = pickle.load(open(sys.argv[2], "rb"))
def bump(acf, lim):
    return S.entry_exit(acf, limit_mm=lim)
def thr(key, q=0.99):
    return float(np.quantile([bump(h[key], h["limit"])["prominence"] for h in H], q))
T = {k: thr(k, 0.9) for k in ("acf", "acf_g0", "acf_g1")}
print("thresholds", T)
def idx(r, key, fallback):
    b = bump(r[key], r["limit"])
    if b["length_mm"] is not None and b["prominence"] >= T[key]:
        return b["length_mm"], True
    if fallback == "model": return r["model"], False
    if fallback == "clip": return min(r["model"], r["limit"]) * 0.999, False
    if fallback == "squash": return r["limit"] * r["model"] / (r["model"] + r["limit"]), False
    return 0.0, False
cands = {
 "model": lambda r: (r["model"], False),
 "shipped": lambda r: idx(r, "acf", "model"),
 "acf+clip": lambda r: idx(r, "acf", "clip"),
 "acf+squash": lambda r: idx(r, "acf", "squash"),
 "g(IR)+squash": lambda r: idx(r, "acf_g1" if r["fault"] == "inner_race" else "acf_g0", "squash"),
 "g1+clip": lambda r: idx(r, "acf_g1", "clip"),
 "g(IR)+clip": lambda r: idx(r, "acf_g1" if r["fault"] == "inner_race" else "acf_g0", "clip"),
}
ms = sorted(set(r["machine"] for r in rows))
for name, f in cands.items():
    rho = {"outer_race": [], "inner_race": []}; used = []; acc = []
    for m in ms:
        pts = [r for r in rows if r["machine"] == m]
        v = [f(r) for r in pts]
        vals = [a for a, _ in v]
        used += [u for _, u in v]
        acc += [abs(a / r["size"] - 1) < 0.3 for (a, u), r in zip(v, pts) if u]
        rr = 0.0 if np.ptp(vals) == 0 else stats.spearmanr([r["size"] for r in pts], vals).statistic
        rho[pts[0]["fault"]].append(rr)
    allr = np.array(rho["outer_race"] + rho["inner_race"])
    print(f"{name:12s} mean {allr.mean():.3f} >=0.8 {np.mean(allr>=0.8):.2f} OR {np.mean(rho['outer_race']):.3f} IR {np.mean(rho['inner_race']):.3f} "
          f"bump used {np.mean(used):.3f} within30% {np.mean(acc) if acc else float('nan'):.2f}")
