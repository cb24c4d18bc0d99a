"""The edge side runs with torch unimportable: core, runtime, web, every app's serving modules, a prediction.

A subprocess installs a meta-path finder that makes ``import torch`` (and any ``torch.*``) fail, then
imports the edge-side core modules, every registered app's package and its edge-side modules (io,
features, interpret, baseline, web — the ones that exist), builds the Flask app, answers ``/`` and
``/healthz`` through the test client, and for every app with shipped models runs one simulated sample
through ``App.predict`` with the web runner (ModelSwitcher over the released ONNX variants). Apps whose
*simulator* needs torch-side packages are not predicted (the simulator is training side); their serving
path is still imported and served. Finally ``torch`` must not be in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

CORE = ["edgeinv.common.config", "edgeinv.common.errors", "edgeinv.common.app", "edgeinv.common.metrics",
        "edgeinv.common.runtime.session", "edgeinv.common.runtime.bundle", "edgeinv.common.runtime.switch",
        "edgeinv.common.web"]
APP_EDGE_MODULES = ["io", "features", "interpret", "baseline", "web"]

SCRIPT = textwrap.dedent('''
    import importlib, importlib.abc, importlib.util, json, sys, tempfile
    from pathlib import Path

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError(f"torch is not available on the edge (blocked by test): {name}")
            return None

    sys.meta_path.insert(0, NoTorch())
    try:
        import torch  # noqa: F401
        raise SystemExit("the torch blocker does not work")
    except ImportError:
        pass

    report = {"imported": [], "predicted": {}, "skipped": {}}
    for mod in CORE:
        importlib.import_module(mod)
        report["imported"].append(mod)

    from importlib.metadata import entry_points
    import numpy as np
    from edgeinv.common.app import all_apps, BROKEN_APPS
    from edgeinv.common.config import load_settings
    from edgeinv.common.web import create_app

    for ep in entry_points(group="edgeinv.apps"):
        pkg = ep.value.split(":")[0]
        importlib.import_module(pkg)
        report["imported"].append(pkg)
        for sub in APP_EDGE_MODULES:
            if importlib.util.find_spec(f"{pkg}.{sub}") is not None:
                importlib.import_module(f"{pkg}.{sub}")
                report["imported"].append(f"{pkg}.{sub}")
    apps = all_apps()
    report["apps"] = sorted(apps)
    report["broken"] = dict(BROKEN_APPS)

    tmp = Path(tempfile.mkdtemp())
    settings = load_settings(env={}, data_dir=tmp / "data", models_dir=MODELS_DIR)
    flask_app = create_app(settings)
    client = flask_app.test_client()
    index = client.get("/")
    health = client.get("/healthz")
    report["index_status"] = index.status_code
    report["health_status"] = health.status_code
    report["health"] = health.get_json()
    report["app_pages"] = {name: client.get(f"/{name}/").status_code for name in apps}

    ctx = flask_app.extensions["edgeinv"]
    rng = np.random.default_rng(7)
    for name, app in apps.items():
        if not (app.models_dir(settings) / "manifest.json").is_file():
            report["skipped"][name] = "no shipped models"
            continue
        try:
            data = app.simulate(1, rng=rng, config=app.configs[0])
        except ImportError as exc:  # the simulator is training side; it may need torch-side packages
            report["skipped"][name] = f"simulator needs a training-side package: {exc}"
            continue
        sample = data.samples[0] if data.samples else None
        if sample is None:
            report["skipped"][name] = "simulate() kept no raw samples"
            continue
        runner = ctx.runner(app, app.config_for(sample))
        result = app.predict(sample, runner)
        report["predicted"][name] = json.loads(json.dumps(result.to_dict(), default=str))

    report["torch_modules"] = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
    print("REPORT " + json.dumps(report, default=str))
''')


def test_edge_side_runs_without_torch(tmp_path):
    code = f"CORE = {CORE!r}\nAPP_EDGE_MODULES = {APP_EDGE_MODULES!r}\nMODELS_DIR = {str(REPO_ROOT / 'models')!r}\n" + SCRIPT
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("EDGEINV_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=env)
    assert proc.returncode == 0, f"edge side failed without torch:\n{proc.stderr[-4000:]}"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT "))
    report = json.loads(line[len("REPORT "):])
    assert set(CORE) <= set(report["imported"])
    assert report["broken"] == {}, f"apps failed to load without torch: {report['broken']}"
    assert report["apps"], "no app is registered"
    assert report["index_status"] == 200
    assert report["health_status"] == 200 and report["health"]["db"]["ok"] is True
    assert all(code == 200 for code in report["app_pages"].values()), report["app_pages"]
    for name, result in report["predicted"].items():
        assert isinstance(result, dict) and result, f"{name}: empty prediction"
    assert report["torch_modules"] == [], f"torch was imported: {report['torch_modules']}"
