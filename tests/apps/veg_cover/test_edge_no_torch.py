"""The veg-cover edge path runs with torch, prosail and numba unimportable: read -> predict -> plan -> files."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

MS = ["blue", "green", "red", "rededge", "nir"]

SCRIPT = textwrap.dedent('''
    import importlib, importlib.abc, json, sys
    BLOCKED = ("torch", "prosail", "numba")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked on the edge")
            return None

    sys.meta_path.insert(0, Block())
    mods = ["io", "features", "interpret", "baseline", "tiling", "outputs", "mission.plan", "mission.survey", "service", "web",
            "cli", "cameras", "evaluation"]
    for m in mods:
        importlib.import_module(f"edgeinv.apps.veg_cover.{m}")
    from edgeinv.common.app import get_app
    from edgeinv.common.runtime.session import OnnxModel
    from edgeinv.apps.veg_cover.mission.plan import MissionSettings
    from edgeinv.apps.veg_cover.mission.survey import plan_from_results, write_mission

    app = get_app("veg-cover")
    tif, onnx, out = sys.argv[1:4]
    sample = app.read(tif, out=out + "/cover.tif", zone_m=5.0, low_cover=0.99)
    res = app.predict(sample, OnnxModel(onnx))
    mission = plan_from_results([res], settings=MissionSettings(target_gsd_m=0.01))
    files = write_mission(mission, plan_path=out + "/m.plan")
    base = app.baseline(sample)
    print(json.dumps({"fvc": res.fvc_mean, "n_wp": len(mission.waypoints), "files": files, "outputs": res.outputs,
                      "baseline_shape": list(base["cover_fraction"].shape),
                      "leaked": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)}))
''')


def test_edge_path_without_training_packages(tiny_onnx, tmp_path, write_tif, ms_bands):
    tif = write_tif(tmp_path / "f.tif", np.tile(ms_bands, (1, 6, 6)), descriptions=MS)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tif), str(tiny_onnx), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rep["leaked"] == []
    assert 0 <= rep["fvc"] <= 1 and rep["n_wp"] > 0 and rep["baseline_shape"] == [240, 288]
    assert (tmp_path / "cover.tif").is_file() and (tmp_path / "cover.png").is_file() and (tmp_path / "m.plan").is_file()
