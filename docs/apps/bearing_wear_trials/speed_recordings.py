"""(issue 13, stop 27) Whole recordings, not one window: 388986c (before any speed work) against the code importable as
``edgeinv``, one thread, process CPU time, interleaved call by call.

Two cases per operating point: (a) the same multi-window recording predicted again and again (every per-machine table
warm), with its first window alone for comparison; (b) fresh recordings whose speed drifts by up to +-1 % from one to
the next (a machine's speed varies between a technician's recordings: the per-recording tables are rebuilt, as in the
field when the speed is read from a tachometer); (c, stop 29) recordings of one fixed length (a data collector's
setting: one window and 5 % at the first two points, else the point's seconds), the nominal speed typed and the true
speed drifting by up to +-1 % (the refined speed, which sets the windows and fault orders, differs every time). The
five-point figures of ``speed_interleaved3.py`` are single-window recordings (case a's "one window"); the first two
points here are single-window recordings too (seconds 0), to see cases b and c for them.

Setup as ``speed_interleaved3.py`` (W/pk/old/bw_old = 388986c's bearing_wear package):
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python docs/apps/bearing_wear_trials/speed_recordings.py W/pk [REPS]
"""
import sys
import time
from pathlib import Path

import numpy as np

PK = Path(sys.argv[1])
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 15
sys.path.insert(0, str(PK / "old"))
import bw_old.app as OA  # noqa: E402
import bw_old.physics as OP  # noqa: E402

from edgeinv.apps.bearing_wear import app as A  # noqa: E402
from edgeinv.apps.bearing_wear import features as F  # noqa: E402
from edgeinv.apps.bearing_wear.physics import get_geometry  # noqa: E402
from edgeinv.apps.bearing_wear.simulate import draw_conditions  # noqa: E402
from edgeinv.common.runtime.session import OnnxModel  # noqa: E402

MODELS = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default"
runner = OnnxModel(str(MODELS / "student_fp32.onnx"), threads=1)
CODES = (("old", OA, OP.get_geometry), ("new", A, get_geometry))


def recording(fs, rpm, seconds, rng):
    c = draw_conditions(rng=rng, fault="outer_race", defect_size_mm=1.0, rpm=rpm, fs_hz=fs,
                        geometry=get_geometry("6205-2rs"), snr_db=0.0, rpm_error_frac=0.0)
    return A.APP.simulate_recording(c, rng=rng, duration_s=seconds or None).signal  # 0: one window


def drifting(fs, rpm, seconds, rng, field):
    """(signal, typed speed) of a fresh recording whose true speed drifts +-1 % from ``rpm``: case b types the true
    speed and the recording is as long as its window (seconds 0); case c (``field``) types ``rpm`` and the length is
    fixed (seconds 0: one window at ``rpm`` and 5 %)."""
    r = rpm * (1 + rng.uniform(-0.01, 0.01))
    if not field:
        return recording(fs, r, seconds, rng), r
    sig = recording(fs, r, seconds or 1.05 * F.N_REV * 60.0 / rpm, rng)
    return sig[:int(round((seconds or 1.05 * F.N_REV * 60.0 / rpm) * fs))], rpm


def timed(P, rec):
    t0 = time.process_time()
    P.APP.predict(rec, runner)
    return time.process_time() - t0


for fs, rpm, seconds in ((12000.0, 1797.0, 0), (48000.0, 600.0, 0), (12000.0, 1797.0, 10.0), (25600.0, 1500.0, 10.0),
                         (48000.0, 600.0, 16.0)):
    rng = np.random.default_rng(3)
    sig = recording(fs, rpm, seconds, rng)
    w = F.window_length(fs_hz=fs, rpm=rpm)
    t = {(tag, k): [] for tag, _, _ in CODES for k in ("whole", "one")}
    recs = {tag: (P.Recording(sig, fs, rpm, g("6205-2rs"), source="s"), P.Recording(sig[:w], fs, rpm, g("6205-2rs"), source="s"))
            for tag, P, g in CODES}
    for i in range(REPS + 3):
        for tag, P, _ in (CODES if i % 2 else CODES[::-1]):
            whole, one = timed(P, recs[tag][0]), timed(P, recs[tag][1])
            if i >= 3:
                t[(tag, "whole")].append(whole)
                t[(tag, "one")].append(one)
    m = {k: np.median(v) * 1e3 for k, v in t.items()}
    print(f"{fs:g} Hz {rpm:g} rpm, {len(sig) / fs:.3g} s ({len(sig) // w} windows), same recording again: whole "
          f"old {m['old', 'whole']:.1f} / new {m['new', 'whole']:.1f} ms = {m['old', 'whole'] / m['new', 'whole']:.2f}x; "
          f"its first window alone old {m['old', 'one']:.2f} / new {m['new', 'one']:.2f} ms = "
          f"{m['old', 'one'] / m['new', 'one']:.2f}x", flush=True)
    for field, name in ((False, "fresh recordings, speed drifting +-1 % (typed)"),
                        (True, "fixed length, nominal speed typed, true speed drifting +-1 %")):
        drift = {tag: [] for tag, _, _ in CODES}
        for i in range(REPS + 3):
            s, r = drifting(fs, rpm, seconds, rng, field)
            for tag, P, g in (CODES if i % 2 else CODES[::-1]):
                dt = timed(P, P.Recording(s, fs, r, g("6205-2rs"), source="s"))
                if i >= 3:
                    drift[tag].append(dt)
        o, n = np.median(drift["old"]) * 1e3, np.median(drift["new"]) * 1e3
        print(f"    {name}: old {o:.1f} / new {n:.1f} ms = {o / n:.2f}x", flush=True)
