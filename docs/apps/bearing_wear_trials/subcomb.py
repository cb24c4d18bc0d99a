"""Prototype: is the named fault's line comb every d-th line of a denser comb (d = 2, 3)? On all 42 real files,
nominal and +-1 % speed, and the four gross errors."""
import json, sys
import numpy as np
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear import decision as D
from edgeinv.apps.bearing_wear.features import N_REV
from edgeinv.common.runtime.session import OnnxModel
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from perturb import CASES as GROSS, perturbed
runner = OnnxModel("models/bearing_wear/default/student_fp32.onnx", threads=1)
CASES = {"nominal": (1, 1), **GROSS}
def h(spec, o):
    i = int(round(o * N_REV))
    return float(spec[i - 1:i + 2].max()) if 1 <= i < len(spec) - 1 else np.nan
out = []
for lab, truth, name, r in perturbed(CASES):
    try:
        p = APP.prepare(r)
        res = APP.finish(p, runner(p.x))
    except Exception as exc:
        continue
    if res.fault == "none":
        out.append({"file": lab["local_file"], "case": name, "truth": truth, "call": "none"}); continue
    spec = np.mean([a.spec_band + a.spec_energy for a in p.analyses], axis=0) / 2.0
    o = res.evidence["per_fault"][res.fault]["order"]
    sub = {}
    for d in (2, 3):
        lines = [h(spec, k * o / d) for k in range(1, 2 * d + 1) if k % d]
        sub[d] = float(np.nanmin(D.line_db(np.array(lines))))
    out.append({"file": lab["local_file"], "case": name, "truth": truth, "call": res.fault, "order": o, "sub2": sub[2], "sub3": sub[3],
                "marked": any("NOT reliable" in x for x in res.alarm_reasons), "note": bool(res.ood.get("speed_note"))})
json.dump(out, open(sys.argv[1], "w"))
