import numpy as np, sys, pickle
from edgeinv.apps.bearing_wear import ood as O
from edgeinv.apps.bearing_wear.calibrate import _recording
rng = np.random.default_rng(int(sys.argv[1])); n = int(sys.argv[2]); out = []
for i in range(n):
    rec = _recording(rng)
    for tag, fs, rpm in (("ok", rec.fs_hz, rec.rpm), ("rpm+1%", rec.fs_hz, rec.rpm*1.01), ("rpm-1%", rec.fs_hz, rec.rpm*0.99),
                         ("rpm x1.5", rec.fs_hz, rec.rpm*1.5), ("rpm x0.6", rec.fs_hz, rec.rpm*0.6),
                         ("fs x2", rec.fs_hz*2, rec.rpm), ("fs /2", rec.fs_hz/2, rec.rpm)):
        c = O.speed_check(rec.signal, fs_hz=fs, rpm=rpm, geometry=rec.geometry, margin_db=0.0)
        out.append((tag, c["family_at_given_db"], c["family_at_other_db"], c["best_other_rpm"] / rpm, rec.truth["fault"]))
    rec.release()
pickle.dump(out, open(sys.argv[3], "wb"))
