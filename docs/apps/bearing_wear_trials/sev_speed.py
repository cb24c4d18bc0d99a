"""Severity ordering of the 18 HIT-SM faulty files with the typed speed off by -1 %, 0, +1 %."""
import csv, dataclasses
from pathlib import Path
from scipy import stats
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear.realeval import _read_as_technician, _resolve
from edgeinv.common.runtime.session import OnnxModel
runner = OnnxModel("models/bearing_wear/default/student_fp32.onnx", threads=1)
root = Path("../shared/realdata/bearing-wear")
recs = []
for lab in csv.DictReader(open(root / "labels.csv")):
    if "hit_sm" in lab["local_file"] and lab["fault_location"] != "none":
        recs.append((lab, _read_as_technician(APP, _resolve(root, lab["local_file"]), lab)))
for f in (0.99, 1.0, 1.01):
    groups = {}
    for lab, rec in recs:
        res = APP.predict(dataclasses.replace(rec, rpm=rec.rpm * f), runner)
        key = (lab["local_file"].split("/")[2], lab["fault_location"], lab["rpm"])
        groups.setdefault(key, []).append((int(lab["size_label"].split()[0]), res.severity_index))
    rho = {k: stats.spearmanr(*zip(*v)).statistic for k, v in sorted(groups.items())}
    print(f"speed x{f}: ordered {sum(r > 0.99 for r in rho.values())}/{len(rho)}",
          {f"{k[0]} {k[1][:2]} {k[2]}": round(r, 2) for k, r in rho.items() if r < 0.99})
