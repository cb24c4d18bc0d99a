"""(issue 13, stop 25) Whole `predict` of three codes, each in its own process, processes alternated round by round:
CPU time per call, one thread, at the five (fs, rpm) points of `speed_interleaved3.py` (the same simulated windows).

Why a second harness: `speed_interleaved3.py` runs 388986c, a reference and the measured code call by call in ONE
process, so they share one heap. 388986c's large temporaries leave glibc's malloc with raised mmap/trim thresholds,
and then no code pays page faults for fresh arrays; a serving process runs one code only, and a code that frees
large arrays every call gets fresh (faulting) pages every call. Stop 25's scratch arrays remove those faults, which
the one-process harness cannot see. Here each code runs alone in its process (its own heap, as when serving), and
the processes alternate (old, base, new, then rotated) so that the machine's load drifts over all three alike.

    OMP_NUM_THREADS=1 PYTHONPATH=<tree> python docs/apps/bearing_wear_trials/speed_processes.py W/pk 30 3
    (W/pk as for speed_interleaved3.py: W/pk/old/bw_old = 388986c's package, W/pk/base/bw_base = the reference)
"""
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

POINTS = ((12000., 1797.), (25600., 1500.), (48000., 3600.), (48000., 600.), (51200., 900.))


def child(pk: Path, code: str, n: int) -> None:
    sys.path.insert(0, str(pk / "old"))
    sys.path.insert(0, str(pk / "base"))
    from edgeinv.apps.bearing_wear import app as A
    from edgeinv.apps.bearing_wear.physics import get_geometry
    from edgeinv.apps.bearing_wear.simulate import draw_conditions
    from edgeinv.common.runtime.session import OnnxModel

    if code == "old":
        import bw_old.app as P
        import bw_old.physics as PP
    elif code == "base":
        import bw_base.app as P
        import bw_base.physics as PP
    else:
        P, PP = A, None
    models = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default"
    runner = OnnxModel(str(models / "student_fp32.onnx"), threads=1)
    out = {}
    for fs, rpm in POINTS:
        rng = np.random.default_rng(1)
        c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=rpm, fs_hz=fs,
                            geometry=get_geometry("6205-2rs"), snr_db=0.0, rpm_error_frac=0.0)
        sig = A.APP.simulate_recording(c, rng=rng).signal
        geom = (PP or sys.modules["edgeinv.apps.bearing_wear.physics"]).get_geometry("6205-2rs")
        rec = P.Recording(sig, fs, rpm, geom, source="s")
        for _ in range(3):
            P.APP.predict(rec, runner)
        t = []
        for _ in range(n):
            t0 = time.process_time()
            P.APP.predict(rec, runner)
            t.append(time.process_time() - t0)
        out[f"{fs:g}/{rpm:g}"] = float(np.median(t))
    print(json.dumps(out))


def driver(pk: Path, n: int, rounds: int) -> None:
    codes = ["old", "base", "new"]
    res = {c: [] for c in codes}
    for r in range(rounds):
        for c in codes[r % 3:] + codes[:r % 3]:
            p = subprocess.run([sys.executable, __file__, "--child", str(pk), c, str(n)], capture_output=True,
                               text=True, check=True)
            res[c].append(json.loads(p.stdout.strip().splitlines()[-1]))
    for key in res["new"][0]:
        m = {c: np.median([d[key] for d in res[c]]) * 1e3 for c in codes}
        print(f"{key}: p50 old {m['old']:.2f} / base {m['base']:.2f} / new {m['new']:.2f} ms; "
              f"x vs 388986c {m['old'] / m['new']:.2f}; x vs base {m['base'] / m['new']:.2f} "
              f"(medians over {rounds} processes each)", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--child":
        child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        driver(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 30,
               int(sys.argv[3]) if len(sys.argv) > 3 else 3)
