"""Issue 15 trial script: could simulations show that a cross-camera calibration transfers? Measured: no.

The two cross-camera calibrations of the last stop (CWFID's red+NIR masks -> ``rgb_fine``; weedNet's RGB masks ->
``red_nir_fine``) are run again with ``App.calibration_scope`` switched off, and the core's simulated check (200
held-out simulated frames of the model's *own* camera, before and after) is printed. CWFID -> rgb_fine made both
real RGB sets worse, weedNet -> red_nir_fine made CWFID better; a transfer test on simulations would have to tell
them apart.

    python docs/apps/veg_cover_trials/cross_camera_simcheck.py

Figures in docs/apps/veg_cover.md ("Only the masks' own camera").
"""
import csv
import json
import tempfile
from pathlib import Path
from edgeinv.apps.veg_cover.app import APP
from edgeinv.common.calibrate import CalibrationOptions, calibrate
from edgeinv.common.config import load_settings
ROOT = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "veg-cover"
settings = load_settings()
APP.calibration_scope = lambda pairs, config: (pairs, None)
table = list(csv.DictReader(open(ROOT / "fvc_labels.csv")))
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    for source, config in (("cwfid", "rgb_fine"), ("weednet_scientifica", "red_nir_fine")):
        rows = [r for r in table if r["dataset"] == source]
        with open(tmp / f"{source}.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
        rep = calibrate(APP, ROOT, tmp / f"{source}.csv", tmp / f"cal_{source}", settings=settings, config=config,
                        progress=False, options=CalibrationOptions(n_sim=500, epochs=15, shrink=True))
        print(source, config, "strength", rep["shrink"]["strength"], json.dumps(rep["simulated_check"]), flush=True)
