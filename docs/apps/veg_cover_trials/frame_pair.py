"""(issue 13, stop 31) veg-cover's whole analysis of one frame, two code trees alternately in fresh processes.

    python docs/apps/veg_cover_trials/frame_pair.py FRAME TREE_A TREE_B [--pairs P] [--reps R] [--gsd-cm G]
    python docs/apps/veg_cover_trials/frame_pair.py --equal TREE_A TREE_B [FRAME ...]

Timing: each process (``PYTHONPATH=TREE``, one ONNX Runtime and one OpenMP thread) runs one untimed analysis of FRAME
(the ``predict`` a file gets: decode, path choice, levels, tiles, model, zones, confidence) and then R timed ones on
``time.process_time()``; the trees alternate A, B, B, A, ... so neighbouring processes see the host in the same phase.
Prints each process's times and, per pair, A's median over B's. ``--gsd-cm 3`` sends an RGB frame down the unmixing
path (camera counts at a coarse ground resolution), without it an RGB frame takes the segmentation path.

``--equal``: the result dictionaries and the cover / sd / probability maps of both trees, hashed, on the frames given
(default: every third real frame of ``../shared/realdata/veg-cover`` and each both without and with ``--gsd-cm 3``);
prints how many are the same bits.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REAL = Path(__file__).resolve().parents[4] / "shared" / "realdata" / "veg-cover"

CHILD = r'''
import hashlib, json, sys, time
from pathlib import Path
import numpy as np
from edgeinv.apps.veg_cover.app import APP
from edgeinv.common.analysis import analyse
from edgeinv.common.cli import CliContext
from edgeinv.common.config import load_settings

ctx = CliContext(settings=load_settings(), json=True)
runner_for = lambda config: ctx.runner(APP, config, variant=None, models_dir=None, device=False)
mode, reps, gsd, files = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]

def run(path, gsd_cm):
    opts = APP.options_type.build({"gsd_cm": gsd_cm} if gsd_cm else {}, source="flag")
    return analyse(APP, Path(path), filename=Path(path).name, options=opts, runner_for=runner_for)

if mode == "time":
    gsd_cm = float(gsd) if gsd != "-" else None
    run(files[0], gsd_cm)
    times = []
    for _ in range(reps):
        t0 = time.process_time()
        run(files[0], gsd_cm)
        times.append(time.process_time() - t0)
    print(json.dumps({"times": times}))
else:
    out = {}
    for path in files:
        for gsd_cm in (None, 3.0):
            done = run(path, gsd_cm)
            h = hashlib.sha256(json.dumps(done.printable().to_dict(), sort_keys=True, default=str).encode())
            for k in ("cover", "std", "probability"):
                m = getattr(done.results[0], k, None)
                if isinstance(m, np.ndarray):
                    h.update(np.ascontiguousarray(m).tobytes())
            out[f"{Path(path).name} gsd={gsd_cm}"] = h.hexdigest()
    print(json.dumps(out))
'''


def child(tree: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(Path(tree).resolve()), OMP_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, cwd="/")
    if res.returncode:
        sys.exit(f"{tree}: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--equal", action="store_true")
    p.add_argument("args", nargs="+")
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--gsd-cm", type=float)
    a = p.parse_args()
    if a.equal:
        tree_a, tree_b, *frames = a.args
        if not frames:
            frames = [str(f) for f in sorted(REAL.glob("*/images/*"))[::3]]
        ha, hb = child(tree_a, "equal", "0", "-", *frames), child(tree_b, "equal", "0", "-", *frames)
        same = [k for k in ha if ha[k] == hb.get(k)]
        print(f"{len(same)} of {len(ha)} results the same bits; differing: {[k for k in ha if k not in same]}")
        return
    frame, tree_a, tree_b = a.args
    gsd = "-" if a.gsd_cm is None else str(a.gsd_cm)
    med = {tree_a: [], tree_b: []}
    for i in range(a.pairs):
        for tree in (tree_a, tree_b) if i % 2 == 0 else (tree_b, tree_a):
            times = child(tree, "time", str(a.reps), gsd, frame)["times"]
            med[tree].append(float(np.median(times)))
            print(f"{tree}: {[round(t, 3) for t in times]} CPU s", flush=True)
    ratio = np.array(med[tree_a]) / np.array(med[tree_b])
    print(f"A / B per pair {np.round(ratio, 2).tolist()}, median {np.median(ratio):.2f}; "
          f"median CPU s A {np.median(med[tree_a]):.2f}, B {np.median(med[tree_b]):.2f}")


if __name__ == "__main__":
    main()
