"""(issue 13, stop 23) Whole `predict` of three codes interleaved call by call in one process, CPU time, one thread:
388986c (before any speed work), a reference commit and the code importable as `edgeinv` (a worktree of the measured
commit on PYTHONPATH). The order rotates every call; five (fs, rpm) points (one simulated outer-race window, 1 mm,
0 dB) and, with --stream, the bench's 50 held-out windows (seed 100003) x 3 rounds.

Setup (W = a scratch folder; REF = the reference commit, e.g. ca4c419; NEW = the measured commit):
    git worktree add W/old388 388986c && git worktree add W/ref REF && git worktree add W/new NEW
    mkdir -p W/pk/old W/pk/base && cp -r W/old388/edgeinv/apps/bearing_wear W/pk/old/bw_old
    cp -r W/ref/edgeinv/apps/bearing_wear W/pk/base/bw_base
    cp edgeinv/apps/bearing_wear/data/severity.json W/pk/old/bw_old/data/
    cd W/new && OMP_NUM_THREADS=1 PYTHONPATH=W/new python <repo>/docs/apps/bearing_wear_trials/speed_interleaved3.py W/pk 30 --stream
"""
import sys
import time
from pathlib import Path

import numpy as np

PK = Path(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 30
sys.path.insert(0, str(PK / "old"))
sys.path.insert(0, str(PK / "base"))
import bw_base.app as BA  # noqa: E402
import bw_base.physics as BP  # noqa: E402
import bw_old.app as OA  # noqa: E402
import bw_old.physics as OP  # noqa: E402

from edgeinv.apps.bearing_wear import app as A  # noqa: E402
from edgeinv.apps.bearing_wear.physics import get_geometry  # noqa: E402
from edgeinv.apps.bearing_wear.simulate import draw_conditions  # noqa: E402
from edgeinv.common.runtime.bench import _heldout  # noqa: E402
from edgeinv.common.runtime.session import OnnxModel  # noqa: E402

MODELS = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default"
runner = OnnxModel(str(MODELS / "student_fp32.onnx"), threads=1)


def trio(sig, fs, rpm, name, geom):
    return (("old", OA, OA.Recording(sig, fs, rpm, OP.get_geometry(name) if name else geom, source="s")),
            ("base", BA, BA.Recording(sig, fs, rpm, BP.get_geometry(name) if name else geom, source="s")),
            ("new", A, A.Recording(sig, fs, rpm, get_geometry(name) if name else geom, source="s")))


def run(t, codes, i):
    for j in range(3):
        tag, P, rr = codes[(i + j) % 3]
        t0 = time.process_time()
        P.APP.predict(rr, runner)
        t[tag].append(time.process_time() - t0)


def report(name, t):
    m = {k: np.median(v) * 1e3 for k, v in t.items()}
    print(f"{name}: p50 old {m['old']:.2f} / base {m['base']:.2f} / new {m['new']:.2f} ms; "
          f"x vs 388986c {np.median(np.divide(t['old'], t['new'])):.2f} (ratio of p50s {m['old'] / m['new']:.2f}); "
          f"x vs base {np.median(np.divide(t['base'], t['new'])):.2f}", flush=True)


for fs, rpm in ((12000., 1797.), (25600., 1500.), (48000., 3600.), (48000., 600.), (51200., 900.)):
    rng = np.random.default_rng(1)
    c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=rpm, fs_hz=fs,
                        geometry=get_geometry("6205-2rs"), snr_db=0.0, rpm_error_frac=0.0)
    r = A.APP.simulate_recording(c, rng=rng)
    codes = trio(r.signal, fs, rpm, "6205-2rs", None)
    for i in range(3):  # warm-up
        run({"old": [], "base": [], "new": []}, codes, i)
    t = {"old": [], "base": [], "new": []}
    for i in range(N):
        run(t, codes, i)
    report(f"{fs:g} Hz {rpm:g} rpm ({len(r.signal)} samples)", t)
if "--stream" in sys.argv:
    ds = _heldout(A.APP, "default", 100003, 50, None)
    recs = [(np.asarray(s.signal), s.fs_hz, s.rpm, s.geometry) for s in ds.samples]
    t = {"old": [], "base": [], "new": []}
    for rnd in range(3):
        for i, (sig, fs, rpm, g) in enumerate(recs):
            run(t, trio(sig, fs, rpm, None, g), i + rnd)
    report("bench stream (50 held-out windows x 3 rounds)", t)
