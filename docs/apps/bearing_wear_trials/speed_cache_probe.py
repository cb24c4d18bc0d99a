"""(issue 13, stop 29) What other work between two calls adds to a fresh recording's ``predict``: CPU time on fresh
12 kHz recordings (fixed length: one window at 1797 rpm and 5 %, nominal speed typed, true speed drifting +-1 %; all
simulated before the timing), each predicted once, with one of these run just before it, rotating call by call in
one process (so the host's drift falls on all alike):

    none         nothing (the previous call was this code's own);
    mem 1/8/32   a buffer of 1, 8 or 32 MB summed (nothing but the data caches touched);
    fft32/fft64  20 FFTs of lengths not seen before (complex64 c2c / float64 r2c: pocketfft plans and twiddles);
    sim          one more recording simulated (what a harness that simulates each recording before it does);
    old          388986c's predict of the same recording (what speed_recordings.py interleaves).

Page faults per call are counted too (so that a difference is not fresh memory).

    OMP_NUM_THREADS=1 PYTHONPATH=. python docs/apps/bearing_wear_trials/speed_cache_probe.py W/pk [PER_MODE]
    (W/pk as for speed_interleaved3.py: W/pk/old/bw_old = 388986c's package)
"""
import resource
import sys
import time
from pathlib import Path

import numpy as np
import scipy.fft as sfft

from edgeinv.apps.bearing_wear import app as A
from edgeinv.apps.bearing_wear.physics import get_geometry
from edgeinv.apps.bearing_wear.simulate import draw_conditions
from edgeinv.common.runtime.session import OnnxModel

PK = Path(sys.argv[1])
PER_MODE = int(sys.argv[2]) if len(sys.argv) > 2 else 60
sys.path.insert(0, str(PK / "old"))
import bw_old.app as OA  # noqa: E402
import bw_old.physics as OP  # noqa: E402

MODELS = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default"
runner = OnnxModel(str(MODELS / "student_fp32.onnx"), threads=1)
fs, rpm = 12000.0, 1797.0
rng = np.random.default_rng(3)
g = get_geometry("6205-2rs")
seconds = 1.05 * 32 * 60 / rpm
MODES = ("none", "mem 1", "mem 8", "mem 32", "fft32", "fft64", "sim", "old")
buffers = {m: np.ones(int(m.split()[1]) * 2**20 // 8) for m in MODES if m.startswith("mem")}
times = {m: [] for m in MODES}
faults = {m: [] for m in MODES}


def simulated():
    c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=rpm * (1 + rng.uniform(-0.01, 0.01)),
                        fs_hz=fs, geometry=g, snr_db=0.0, rpm_error_frac=0.0)
    return np.ascontiguousarray(A.APP.simulate_recording(c, rng=rng, duration_s=seconds).signal[:int(round(seconds * fs))])


signals = [simulated() for _ in range(len(MODES) * (PER_MODE + 1))]
for i, s in enumerate(signals):
    mode = MODES[i % len(MODES)]
    if mode == "old":
        OA.APP.predict(OA.Recording(s, fs, rpm, OP.get_geometry("6205-2rs"), source="s"), runner)
    elif mode == "sim":
        simulated()
    elif mode.startswith("fft"):
        for n in range(1000 + 7 * i, 1000 + 7 * i + 20 * 13, 13):
            sfft.fft(np.ones(n, np.complex64)) if mode == "fft32" else sfft.rfft(np.ones(n))
    elif mode in buffers:
        buffers[mode].sum()
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.process_time()
    A.APP.predict(A.Recording(s, fs, rpm, g, source="s"), runner)
    dt = time.process_time() - t0
    if i >= len(MODES):
        times[mode].append(dt)
        faults[mode].append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
base = np.median(times["none"])
for m in MODES:
    print(f"{m:7s} fresh p50 {np.median(times[m]) * 1e3:.3f} ms (+{(np.median(times[m]) - base) * 1e3:.2f}), "
          f"page faults p50 {np.median(faults[m]):.0f}")
