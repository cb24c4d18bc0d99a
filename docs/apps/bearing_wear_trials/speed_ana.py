import pickle, numpy as np, sys
out = pickle.load(open(sys.argv[1], "rb"))
tags = ["ok", "rpm+1%", "rpm-1%", "rpm x1.5", "rpm x0.6", "fs x2", "fs /2"]
for tag in tags:
    d = np.array([o[2] - o[1] for o in out if o[0] == tag])
    print(f"{tag:9s} n={len(d):3d} diff q50 {np.median(d):6.1f} q90 {np.quantile(d,.9):6.1f} q99 {np.quantile(d,.99):6.1f} min {d.min():6.1f}  fire@6 {np.mean(d>=6):.2f} @4 {np.mean(d>=4):.2f} @3 {np.mean(d>=3):.2f} @8 {np.mean(d>=8):.2f}")
