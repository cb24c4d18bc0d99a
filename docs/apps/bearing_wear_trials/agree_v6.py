"""(issue 13, stop 24, stage B) Decisions of preprocessing version 6 (the working tree and its shipped model) against
version 5 (a reference commit's `bearing_wear` package and ITS shipped student), on 300 simulated recordings (a third
of them 1-3 windows long), 25 sines with 0-30 % noise, 25 white noises and 20 recordings typed at 1.3x / 1.5x / 0.7x
/ 1.01x their speed (built by test_agreement_v5.recordings, seed 2026). Compared per recording: the fault named, the
OOD flag, the alarm, the ISO zone and the size status; agreement rates printed per field and per kind of recording.

Setup: W=/tmp/h6 (any scratch folder); git archive REF edgeinv/apps/bearing_wear models/bearing_wear | tar -x -C W/ref
       mkdir -p W/pk && cp -r W/ref/edgeinv/apps/bearing_wear W/pk/bw_head
Run:   OMP_NUM_THREADS=1 .venv/bin/python docs/apps/bearing_wear_trials/agree_v6.py W/pk W/ref/models/bearing_wear/default
"""
import importlib.util
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, sys.argv[1])
import bw_head.app as BA  # noqa: E402
import bw_head.physics as BP  # noqa: E402

from edgeinv.apps.bearing_wear import app as A  # noqa: E402
from edgeinv.common.runtime.session import OnnxModel  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("_agree", ROOT / "tests" / "apps" / "bearing_wear" / "test_agreement_v5.py")
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)
runner = OnnxModel(str(ROOT / "models" / "bearing_wear" / "default" / "student_fp32.onnx"), threads=1)
old_runner = OnnxModel(str(Path(sys.argv[2]) / "student_fp32.onnx"), threads=1)
recs = T.recordings(seed=2026, n_sim=300, n_noise=25, typed=(1.3, 1.5, 0.7, 1.01) * 5)


decisions = T.decisions

agree, kinds, truth_right = Counter(), Counter(), Counter()
for kind, r in recs:
    new = decisions(A.APP.predict(r, runner).to_dict())
    geom = BP.get_geometry(r.geometry.name) if r.geometry.name in BP.PRESETS else r.geometry
    old = decisions(BA.APP.predict(BA.Recording(r.signal, r.fs_hz, r.rpm, geom, source=r.source, channel=r.channel),
                                   old_runner).to_dict())
    kinds[kind] += 1
    for k in new:
        agree[k] += new[k] == old[k]
        agree[(kind, k)] += new[k] == old[k]
    agree["all"] += new == old
    agree[(kind, "all")] += new == old
    if kind.startswith("sim_"):
        t = r.truth["fault"]
        truth_right["new"] += new["fault"] == t
        truth_right["old"] += old["fault"] == t
    if new != old:
        print("DIFF", kind, r.fs_hz, round(r.rpm), {k: (old[k], new[k]) for k in new if new[k] != old[k]}, flush=True)
n = len(recs)
print(f"recordings {n}: all five decisions equal {agree['all']} ({agree['all'] / n:.1%}); per field: "
      + ", ".join(f"{k} {agree[k] / n:.1%}" for k in ("fault", "flag", "alarm", "zone", "size")))
for kind in sorted(kinds):
    print(f"  {kind:16s} n={kinds[kind]:3d}  all {agree[(kind, 'all')] / kinds[kind]:.1%}  "
          + " ".join(f"{k} {agree[(kind, k)] / kinds[kind]:.0%}" for k in ("fault", "flag", "alarm", "zone", "size")))
ns = sum(v for k, v in kinds.items() if k.startswith("sim_"))
print(f"simulated recordings: fault named = truth, v5 {truth_right['old']}/{ns}, v6 {truth_right['new']}/{ns}")
