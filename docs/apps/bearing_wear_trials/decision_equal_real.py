"""(issue 13, stop 23) Whole results (to_dict as JSON) of a reference commit's `bearing_wear` package and of the working
tree on the 42 real files, read as `evaluate-real` reads them, typed right and -1 % / +1 %; the shipped student.

Setup as decision_equal.py; run: OMP_NUM_THREADS=1 .venv/bin/python docs/apps/bearing_wear_trials/decision_equal_real.py W/pk/base
"""
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
import bw_base.app as BA  # noqa: E402

from edgeinv.apps.bearing_wear import app as A  # noqa: E402
from edgeinv.apps.bearing_wear import realeval as R  # noqa: E402
from edgeinv.common.runtime.session import OnnxModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "realdata" / "bearing-wear"
runner = OnnxModel(str(ROOT / "models" / "bearing_wear" / "default" / "student_fp32.onnx"), threads=1)
n = diff = 0
for lab in R.load_labels(DATA):
    rec = R._read_as_technician(A.APP, R._resolve(DATA, lab["local_file"]), lab)
    for f in (1.0, 0.99, 1.01):
        r = dataclasses.replace(rec, rpm=rec.rpm * f)
        ro = BA.Recording(r.signal, r.fs_hz, r.rpm, r.geometry, source=r.source, channel=r.channel, meta=dict(r.meta))
        a, b = A.APP.predict(r, runner).to_dict(), BA.APP.predict(ro, runner).to_dict()
        n += 1
        if json.dumps(a, sort_keys=True, default=float) != json.dumps(b, sort_keys=True, default=float):
            diff += 1
            keys = [k for k in a if json.dumps(a[k], sort_keys=True, default=float) != json.dumps(b[k], sort_keys=True, default=float)]
            print("DIFF", lab["local_file"], f, keys, *[(a[k], b[k]) for k in keys if k != "ood"][:1],
                  (a["ood"].get("speed_check"), b["ood"].get("speed_check")) if "ood" in keys else "")
print(f"real recordings x speeds: {n}; results differing {diff}")
