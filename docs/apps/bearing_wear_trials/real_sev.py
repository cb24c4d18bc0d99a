import pickle, numpy as np, sys, csv
from pathlib import Path
from scipy import stats
sys.path.insert(0, "docs/apps/bearing_wear_trials")
from proto import record, gated_acf
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.common.runtime.session import OnnxModel
runner = OnnxModel("models/bearing_wear/default/student_fp32.onnx", threads=1)
root = Path("../shared/realdata/bearing-wear")
rows = []
for r in csv.DictReader(open(root / "labels.csv")):
    if "hit_sm" not in r["local_file"] or r["fault_location"] == "none":
        continue
    p = root.parent / r["local_file"]
    rec = APP.read(p, filename=p.name, fs_hz=float(r["fs_hz"]), rpm=float(r["rpm"]), bearing="6205")
    rec, _ = APP.refine_speed(rec)
    an = APP.analyse(rec)
    row = record(rec, an, runner)
    row.update(file=r["local_file"].split("hit_sm/")[1], fault=r["fault_location"], deg=int(r["size_label"].split()[0]), rpm=float(r["rpm"]))
    rows.append(row); print(row["file"], flush=True)
pickle.dump(rows, open("/tmp/h1w/realsev.pkl", "wb"))
