"""(issue 13, stop 23) Whole results of a reference commit's `bearing_wear` package and of the working tree, compared
exactly (to_dict as JSON) on 300 simulated recordings (a third of them 1-3 windows long), 25 sines with 0-30 % noise,
25 white noises and 20 recordings typed at 1.3x / 1.5x / 0.7x / 1.01x their speed, with the shipped student.

Setup: git worktree add W/ref REF && mkdir -p W/pk/base && cp -r W/ref/edgeinv/apps/bearing_wear W/pk/base/bw_base
Run:   OMP_NUM_THREADS=1 .venv/bin/python docs/apps/bearing_wear_trials/decision_equal.py W/pk/base
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, sys.argv[1])
import bw_base.app as BA  # noqa: E402
import bw_base.physics as BP  # noqa: E402

from edgeinv.apps.bearing_wear import app as A  # noqa: E402
from edgeinv.apps.bearing_wear.physics import get_geometry  # noqa: E402
from edgeinv.apps.bearing_wear.simulate import draw_conditions  # noqa: E402
from edgeinv.common.runtime.session import OnnxModel  # noqa: E402

MODELS = Path(__file__).resolve().parents[3] / "models" / "bearing_wear" / "default"
runner = OnnxModel(str(MODELS / "student_fp32.onnx"), threads=1)
rng = np.random.default_rng(2026)
wl = A._features.window_length
recs = []
for i in range(300):
    c = draw_conditions(rng=rng)
    dur = None if i % 3 else float(rng.uniform(1.0, 3.0)) * wl(fs_hz=c.fs_hz, rpm=c.reported_rpm) / c.fs_hz
    recs.append(A.APP.simulate_recording(c, rng=rng, duration_s=dur))
g = get_geometry("6205-2rs")
for i in range(25):
    fs = float(rng.choice([12000., 25600., 48000., 51200.]))
    rpm = float(rng.uniform(600, 3600))
    n = int(wl(fs_hz=fs, rpm=rpm) * rng.uniform(1.0, 2.5))
    t = np.arange(n) / fs
    f0 = float(rng.uniform(50, fs / 3))
    tone = np.sin(2 * np.pi * f0 * t) + rng.uniform(0, 0.3) * rng.standard_normal(n)
    recs.append(A.Recording(tone.astype(np.float32), fs, rpm, g, source="sine"))
    recs.append(A.Recording(rng.standard_normal(n).astype(np.float32), fs, rpm, g, source="white"))
for i in range(20):
    c = draw_conditions(rng=rng)
    r = A.APP.simulate_recording(c, rng=rng, duration_s=2.0 * wl(fs_hz=c.fs_hz, rpm=c.reported_rpm) / c.fs_hz)
    recs.append(A.Recording(r.signal, r.fs_hz, r.rpm * float(rng.choice([1.3, 1.5, 0.7, 1.01])), r.geometry,
                            source="typed_off"))
diff = flags = tone_n = flat = spd = 0
for r in recs:
    new = A.APP.predict(r, runner).to_dict()
    geom = BP.get_geometry(r.geometry.name) if r.geometry.name in BP.PRESETS else r.geometry
    old = BA.APP.predict(BA.Recording(r.signal, r.fs_hz, r.rpm, geom, source=r.source, channel=r.channel), runner).to_dict()
    if json.dumps(new, sort_keys=True, default=float) != json.dumps(old, sort_keys=True, default=float):
        diff += 1
        print("DIFF", r.source, r.fs_hz, r.rpm, [k for k in new if json.dumps(new[k], sort_keys=True, default=float)
                                                != json.dumps(old[k], sort_keys=True, default=float)])
    flags += bool(new["ood"]["flag"])
    sc = new["ood"].get("checks", {})
    tone_n += sc.get("single_tone", {}).get("failed", False)
    flat += sc.get("flat_spectrum", {}).get("failed", False)
    spd += bool((new["ood"].get("speed_check") or {}).get("disagrees"))
print(f"recordings {len(recs)}: results differing {diff}; flagged {flags}, tone {tone_n}, flat {flat}, "
      f"speed check disagrees {spd}")
