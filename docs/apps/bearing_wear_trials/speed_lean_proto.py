"""(issue 13, stop 24, stage A) Whole `predict` of 388986c, of the code importable as `edgeinv` (HEAD) and of the lean
prototype `lean_proto.py` (variants v1-v5, see its docstring), interleaved call by call in rotating order, CPU time
(process_time), one thread; five (fs, rpm) points (one simulated outer-race window, 1 mm, 0 dB, as
speed_interleaved3.py). Then per point: v4 back to back (N calls, nothing interleaved) and, for v1 and v4, the
median CPU time of each piece over N back-to-back calls (timers between the pieces), for v1, v4 and v6.

Setup (W = a scratch folder; no worktree needed):
    mkdir -p W/x388 W/pk/old && git archive 388986c edgeinv/apps/bearing_wear | tar -x -C W/x388
    cp -r W/x388/edgeinv/apps/bearing_wear W/pk/old/bw_old
    cp edgeinv/apps/bearing_wear/data/severity.json W/pk/old/bw_old/data/
    OMP_NUM_THREADS=1 .venv/bin/python docs/apps/bearing_wear_trials/speed_lean_proto.py W/pk 30
"""
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(sys.argv[1]) / "old"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import bw_old.app as OA  # noqa: E402
import bw_old.physics as OP  # noqa: E402
import lean_proto as L  # noqa: E402

from edgeinv.apps.bearing_wear import app as A  # noqa: E402
from edgeinv.apps.bearing_wear.physics import get_geometry  # noqa: E402
from edgeinv.apps.bearing_wear.simulate import draw_conditions  # noqa: E402
from edgeinv.common.runtime.session import OnnxModel  # noqa: E402

N = int(sys.argv[2]) if len(sys.argv) > 2 else 30
runner = OnnxModel(str(Path(__file__).resolve().parents[3] / "models/bearing_wear/default/student_fp32.onnx"), threads=1)
BASE = dict(KSEG=16384, V3=False, V4=False)
CFG = {"v1": dict(BASE, LEVELS=(1.0, 1.585, 2.0, 2.585, 3.0), OVS=2, PART_MEDIAN=False, LEAN_SPEED=False)}
CFG["v2"] = dict(BASE, LEVELS=(1.585, 2.0, 2.585), OVS=1, PART_MEDIAN=True, LEAN_SPEED=True)
CFG["v3"] = dict(CFG["v2"], V3=True)
CFG["v4"] = dict(CFG["v2"], V3=True, V4=True)
CFG["v5"] = dict(CFG["v4"], LEVELS=(2.0, 2.585), KSEG=8192)
CFG["v6"] = dict(CFG["v5"], LEVELS=(2.0,))


def lean(name, rr):
    for k, v in CFG[name].items():
        setattr(L, k, v)
    return L.predict(rr, runner)


print("load average at start:", open("/proc/loadavg").read().split()[:3], flush=True)
for fs, rpm in ((12000., 1797.), (25600., 1500.), (48000., 3600.), (48000., 600.), (51200., 900.)):
    rng = np.random.default_rng(1)
    c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=rpm, fs_hz=fs,
                        geometry=get_geometry("6205-2rs"), snr_db=0.0, rpm_error_frac=0.0)
    r = A.APP.simulate_recording(c, rng=rng)
    ro = OA.Recording(r.signal, r.fs_hz, r.rpm, OP.get_geometry("6205-2rs"), source="s")
    codes = [("old", lambda: OA.APP.predict(ro, runner)), ("head", lambda: A.APP.predict(r, runner))]
    codes += [(k, (lambda k=k: lean(k, r))) for k in CFG]
    t = {k: [] for k, _ in codes}
    for i in range(N + 3):
        for j in range(len(codes)):
            tag, f = codes[(i + j) % len(codes)]
            t0 = time.process_time()
            f()
            dt = time.process_time() - t0
            if i >= 3:
                t[tag].append(dt)
    m = {k: np.median(v) * 1e3 for k, v in t.items()}
    print(f"{fs:g} Hz {rpm:g} rpm ({len(r.signal)} samples) p50 ms: " + " / ".join(f"{k} {v:.2f}" for k, v in m.items()),
          flush=True)
    print("   x vs 388986c (median per-call ratio): " + ", ".join(
        f"{k} {np.median(np.divide(t['old'], t[k])):.2f}" for k in t if k != "old")
        + f"; v4 x vs HEAD {np.median(np.divide(t['head'], t['v4'])):.2f}", flush=True)
    lean("v4", r)
    b2b = []
    for _ in range(N):
        t0 = time.process_time()
        L.predict(r, runner)
        b2b.append(time.process_time() - t0)
    print(f"   v4 back to back p50 {np.median(b2b) * 1e3:.2f} ms", flush=True)
    for name in ("v1", "v4", "v6"):
        L.TIMERS = {}
        for _ in range(N):
            lean(name, r)
        print(f"   {name} pieces (median us, back to back):", {k: round(np.median(v) / 1e3) for k, v in L.TIMERS.items()},
              "sum", round(sum(np.median(v) for v in L.TIMERS.values()) / 1e3), flush=True)
        L.TIMERS = None
    print("   calls: HEAD", A.APP.predict(r, runner).fault, "| " + " | ".join(f"{k} {lean(k, r).fault}" for k in CFG),
          flush=True)
print("load average at end:", open("/proc/loadavg").read().split()[:3], flush=True)
