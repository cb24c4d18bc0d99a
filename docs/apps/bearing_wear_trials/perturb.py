"""Every real file analysed with fs x2, fs /2, rpm x1.5, rpm x0.6, rpm +-1 %: call, OOD flag, speed-check verdict."""
import csv, dataclasses, json, sys
from pathlib import Path
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear.realeval import _read_as_technician, _resolve
from edgeinv.common.runtime.session import OnnxModel
ROOT = Path("../shared/realdata/bearing-wear")
CASES = {"fs x2": (2.0, 1.0), "fs /2": (0.5, 1.0), "rpm x1.5": (1.0, 1.5), "rpm x0.6": (1.0, 0.6), "rpm +1%": (1.0, 1.01), "rpm -1%": (1.0, 0.99)}


def perturbed(cases=CASES, root=ROOT):
    """Every real file read as a technician would, then each case's fs/rpm factors: (label row, truth, case, recording)."""
    for lab in csv.DictReader(open(root / "labels.csv")):
        rec = _read_as_technician(APP, _resolve(root, lab["local_file"]), lab)
        truth = lab["fault_location"].strip() or "none"
        for name, (kf, kr) in cases.items():
            yield lab, truth, name, dataclasses.replace(rec, fs_hz=rec.fs_hz * kf, rpm=rec.rpm * kr)
        print(lab["local_file"], flush=True)


if __name__ == "__main__":
    runner = OnnxModel("models/bearing_wear/default/student_fp32.onnx", threads=1)
    rows = []
    for lab, truth, name, r in perturbed():
        try:
            res = APP.predict(r, runner)
        except Exception as exc:  # a window longer than the file etc.
            rows.append({"file": lab["local_file"], "case": name, "truth": truth, "error": str(exc)}); continue
        marked = any("NOT reliable" in x for x in res.alarm_reasons)
        rows.append({"file": lab["local_file"], "case": name, "truth": truth, "call": res.fault,
                     "flag": bool(res.ood.get("flag")), "speed_off": bool(res.ood.get("speed_check", {}).get("disagrees")),
                     "marked": marked, "note": bool(res.ood.get("speed_note"))})
    json.dump(rows, open(sys.argv[1], "w"))
