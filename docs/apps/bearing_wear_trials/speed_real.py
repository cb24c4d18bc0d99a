import numpy as np, csv, pickle
from pathlib import Path
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear import ood as O
from edgeinv.apps.bearing_wear.realeval import _read_as_technician, _resolve
root = Path("../shared/realdata/bearing-wear"); out = []
for r in csv.DictReader(open(root / "labels.csv")):
    rec = _read_as_technician(APP, _resolve(root, r["local_file"]), r)
    for tag, fs, rpm in (("ok", rec.fs_hz, rec.rpm), ("rpm+1%", rec.fs_hz, rec.rpm*1.01), ("rpm-1%", rec.fs_hz, rec.rpm*0.99),
                         ("rpm x1.5", rec.fs_hz, rec.rpm*1.5), ("rpm x0.6", rec.fs_hz, rec.rpm*0.6),
                         ("fs x2", rec.fs_hz*2, rec.rpm), ("fs /2", rec.fs_hz/2, rec.rpm)):
        c = O.speed_check(rec.signal, fs_hz=fs, rpm=rpm, geometry=rec.geometry, margin_db=0.0)
        out.append((tag, c["family_at_given_db"], c["family_at_other_db"], c["best_other_rpm"] / rpm, r["local_file"]))
pickle.dump(out, open("/tmp/h1w/speed_real.pkl", "wb"))
