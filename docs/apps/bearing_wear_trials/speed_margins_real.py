"""Speed-check margin (best other family - family at the given speed, dB) on the 42 real files typed right and +-1 %."""
import csv, dataclasses
import numpy as np
from pathlib import Path
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear import ood as O
from edgeinv.apps.bearing_wear.realeval import _read_as_technician, _resolve
root = Path("../shared/realdata/bearing-wear")
m = []
for lab in csv.DictReader(open(root / "labels.csv")):
    rec = _read_as_technician(APP, _resolve(root, lab["local_file"]), lab)
    for k in (1.0, 0.99, 1.01):
        r, _ = APP.refine_speed(dataclasses.replace(rec, rpm=rec.rpm * k))
        sc = O.speed_check(r.signal, fs_hz=r.fs_hz, rpm=r.rpm, geometry=r.geometry)
        m.append((lab["local_file"][-30:], k, sc["family_at_other_db"] - sc["family_at_given_db"]))
v = np.array([x[2] for x in m])
print("n", len(v), "max", v.max().round(1), "q90", np.quantile(v, 0.9).round(1), ">=4.0:", int((v >= 4.0).sum()), ">=5.0:", int((v >= 5.0).sum()), ">=6.6:", int((v >= 6.6).sum()))
for x in sorted(m, key=lambda x: -x[2])[:8]:
    print(x[0], x[1], round(x[2], 1))
