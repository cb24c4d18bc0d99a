import csv, dataclasses, json, sys
import numpy as np
from pathlib import Path
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear import ood as O, features as F
from edgeinv.apps.bearing_wear.physics import defect_orders
from edgeinv.apps.bearing_wear.realeval import _read_as_technician, _resolve
root = Path("../shared/realdata/bearing-wear")
CASES = {"fs x2": (2.0, 1.0), "fs /2": (0.5, 1.0), "rpm x1.5": (1.0, 1.5), "rpm x0.6": (1.0, 0.6)}
FIVE = [("hit_sm/mfs/IR8_600.mat", "rpm x1.5"), ("hit_sm/mfs/IR8_900.mat", "fs x2"), ("hit_sm/mfs/OR8_900.mat", "rpm x0.6"),
        ("hit_sm/selfbuilt/OR2_900.mat", "fs /2"), ("hit_sm/selfbuilt/OR8_900.mat", "fs /2")]
labs = {l["local_file"]: l for l in csv.DictReader(open(root / "labels.csv"))}
for f, case in FIVE:
    lab = labs["bearing-wear/" + f]
    rec = _read_as_technician(APP, _resolve(root, lab["local_file"]), lab)
    kf, kr = CASES[case]
    r = dataclasses.replace(rec, fs_hz=rec.fs_hz * kf, rpm=rec.rpm * kr)
    true_ratio = (1.0 / kr) * kf  # true shaft rate / given, in perceived frequencies
    ratios, score, h1 = O.shaft_family_scores(r.signal, fs_hz=r.fs_hz, rpm=r.rpm)
    sc = O.speed_check(r.signal, fs_hz=r.fs_hz, rpm=r.rpm, geometry=r.geometry)
    i_true = int(np.argmin(abs(ratios - true_ratio)))
    expl = O._explained(ratios, r.geometry)
    rpm_ref, how = F.refine_rpm(r.signal, fs_hz=r.fs_hz, rpm=r.rpm)
    print(f, case, "true ratio %.3f" % true_ratio, "score at true %.1f (explained %s)" % (score[max(i_true-2,0):i_true+3].max(), expl[i_true]),
          "given %.1f" % sc["family_at_given_db"], "best other %.2fx %.1f" % (sc["best_other_rpm"] / r.rpm, sc["family_at_other_db"]), "refine", how, round(rpm_ref / r.rpm, 4))
    # per harmonic heights at the true family and the given
    f_g = r.rpm / 60
    o = defect_orders(geometry=r.geometry)
    print("   orders", {k: round(v, 3) for k, v in o.items()})
