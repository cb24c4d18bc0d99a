"""(issue 13, stop 25) Stages of one recording, two packages in one process, alternated call by call: the reference
package (W/pk/base/bw_base, e.g. 0f3c6a7's) against the code importable as ``edgeinv`` (PYTHONPATH); CPU time, median
of N calls each. ``--warm`` first frees a 30 MB array, which raises glibc's mmap / trim thresholds as 388986c's large
temporaries do in ``speed_interleaved3.py`` (then no code pays page faults for fresh arrays); without it the heap
behaves as in a process that runs these codes only. ``--noscratch`` turns the scratch arrays off (``pocketfft``).

    OMP_NUM_THREADS=1 PYTHONPATH=<tree> python docs/apps/bearing_wear_trials/speed_ab.py W/pk 48000 600 30 [--warm]
"""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(sys.argv[1]) / "base"))
import numpy as np
import bw_base.app as BA, bw_base.features as BF, bw_base.orders as BO, bw_base.physics as BP
from edgeinv.apps.bearing_wear import app as A, features as F, orders as O
from edgeinv.apps.bearing_wear.physics import get_geometry
from edgeinv.apps.bearing_wear.simulate import draw_conditions
fs, rpm = float(sys.argv[2]), float(sys.argv[3])
rng = np.random.default_rng(1)
c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=rpm, fs_hz=fs, geometry=get_geometry("6205-2rs"), snr_db=0.0, rpm_error_frac=0.0)
r = A.APP.simulate_recording(c, rng=rng)
sig = r.signal
gb, gn = BP.get_geometry("6205-2rs"), get_geometry("6205-2rs")
n = F.window_length(fs_hz=fs, rpm=rpm)
pairs = {
 "analyse_window": (lambda: BF.analyse_window(sig[:n], fs_hz=fs, rpm=rpm, geometry=gb), lambda: F.analyse_window(sig[:n], fs_hz=fs, rpm=rpm, geometry=gn)),
 "time_ind(sig)": (lambda: BF.time_indicators(sig), lambda: F.time_indicators(sig)),
 "refine_rpm": (lambda: BO.refine_rpm(sig, fs_hz=fs, rpm=rpm), lambda: O.refine_rpm(sig, fs_hz=fs, rpm=rpm)),
 "window_spectrum": (lambda: BF._window_spectrum(sig[:n]), lambda: F._window_spectrum(sig[:n])),
}
recb = BA.Recording(sig, fs, rpm, gb, source="s"); recn = A.Recording(sig, fs, rpm, gn, source="s")
pb, pn = BA.APP.prepare(recb), A.APP.prepare(recn)
from edgeinv.common.runtime.session import OnnxModel
runner = OnnxModel(str(Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default" / "student_fp32.onnx"), threads=1)
ob = runner(pb.x)
def fb():
    pb.checks = None; pb.envelope = None; BA.APP.finish(pb, ob)
def fn():
    pn.checks = None; pn.envelope = None; A.APP.finish(pn, ob)
pairs["finish"] = (fb, fn)
pairs["prepare"] = (lambda: BA.APP.prepare(recb), lambda: A.APP.prepare(recn))
N = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4].isdigit() else 30
if "--noscratch" in sys.argv:
    F._pfft.SCRATCH_MAX_BYTES = 0
if "--warm" in sys.argv:
    big = np.ones(30 << 17); del big  # 30 MB freed: glibc raises its mmap and trim thresholds (as in the 3-way harness)
for name, (b, nw) in pairs.items():
    tb, tn = [], []
    for i in range(N):
        for j, (f, t) in enumerate(((b, tb), (nw, tn)) if i % 2 else ((nw, tn), (b, tb))):
            t0 = time.process_time(); f(); t.append(time.process_time() - t0)
    print(f"{name:16s} base {np.median(tb)*1e6:8.0f} us  new {np.median(tn)*1e6:8.0f} us  ratio {np.median(tb)/np.median(tn):.3f}")
