"""Per-leaf zero-shot estimates of the shipped `trimmed` release on the Ely table -> estimates.pkl (next to this file
unless OUT is given): network (chosen variant) raw outputs, the hybrid edge path's outputs and info, and the physics
inversion (structure fitted) alone. python estimates.py [MODELS_DIR] [OUT]. Training side only; no label is used."""
import json, pickle, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
import numpy as np
from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.hybrid import hybrid_outputs, physics_estimate
from edgeinv.common.runtime.session import load_model
from load import load, P
from edgeinv.apps.leaf_nitrogen.realdata import read_table

models = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "models/leaf_nitrogen"
out_path = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).with_name("estimates.pkl")
chosen = json.load(open(models / "manifest.json"))["configs"]["trimmed"]["chosen"]
run = load_model(models / "trimmed" / f"{chosen}.onnx", threads=1)
table = read_table(P)
x = np.stack([APP.preprocess(t["leaf"], config="trimmed") for t in table])
raw = {k: np.asarray(v, float).reshape(len(table), -1)[:, 0] for k, v in run(x).items()}
rows = []
for i, t in enumerate(table):
    net = {k: v[i] for k, v in raw.items()}
    hyb, info = hybrid_outputs(net, t["leaf"], config="trimmed", x=x[i])
    rows.append({"net": net, "hyb": hyb, "info": info, "phys": physics_estimate(t["leaf"])})
pickle.dump(rows, open(out_path, "wb"))
print(f"wrote {out_path} ({len(rows)} leaves, {chosen})")
