import time, numpy as np, csv
from pathlib import Path
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear import ood as O
from edgeinv.apps.bearing_wear.realeval import _read_as_technician, _resolve
from edgeinv.apps.bearing_wear.simulate import draw_conditions
from edgeinv.apps.bearing_wear.physics import get_geometry
from edgeinv.common.runtime.session import OnnxModel
runner = OnnxModel("models/bearing_wear/default/student_fp32.onnx", threads=1)
root = Path("../shared/realdata/bearing-wear")
labs = {l["local_file"]: l for l in csv.DictReader(open(root / "labels.csv"))}
recs = {"hit_sm mfs OR5_900 (51.2 kHz, 5.12 s)": _read_as_technician(APP, _resolve(root, "bearing-wear/hit_sm/mfs/OR5_900.mat"), labs["bearing-wear/hit_sm/mfs/OR5_900.mat"])}
rng = np.random.default_rng(1)
c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=1797.0, fs_hz=12000.0, geometry=get_geometry("6205-2rs"), snr_db=0.0, rpm_error_frac=0.0)
recs["sim 12 kHz 1797 rpm (1 window)"] = APP.simulate_recording(c, rng=rng)
real = O.speed_check
stub = lambda *a, **k: {"disagrees": False}
for name, r in recs.items():
    r.signal
    t = {"with": [], "without": []}
    for _ in range(15):
        for tag, fn in (("with", real), ("without", stub)):
            O.speed_check = fn
            t0 = time.process_time(); APP.predict(r, runner); t[tag].append(time.process_time() - t0)
    O.speed_check = real
    w, wo = np.median(t["with"]), np.median(t["without"])
    print(name, f"path with {w*1e3:.1f} ms, without {wo*1e3:.1f} ms, ratio {w/wo:.2f}, median paired ratio {np.median(np.divide(t['with'], t['without'])):.2f}")
