"""Model vs classical baselines on whole simulated scenes (large enough for image-percentile end-members).

The held-out set in the manifest is made of small training-size scenes; the dimidiate model takes
its soil and vegetation end-members from image percentiles, which needs a whole image with both.
Here each scene is ``size`` x ``size`` pixels (a drone frame or an orthomosaic crop), the model runs
through the same tiled edge path as ``predict``, the baselines see the whole scene, and the cover
error is compared per zone of ``zone_px`` pixels. Training side (renders with PROSAIL).
"""

from __future__ import annotations

import numpy as np

from ..cameras import get_camera
from ..evaluation import zone_errors
from ..io import VegImage
from .. import baseline


def evaluate_scenes(app, runner, *, config: str, n: int = 12, size: int = 256, zone_px: int = 32,
                    seed: int = 20261) -> dict:
    """Render ``n`` scenes, run the model (tiled) and both baselines; per-zone error of each."""
    from .scene import render

    cam = get_camera(config)
    rng = np.random.default_rng(seed)
    preds, truths, base = [], [], {k: [] for k in baseline.METHODS}
    gsds = []
    for i in range(int(n)):
        bands, truth, info = render(camera=cam, shape_px=(size, size), rng=rng)
        img = VegImage(bands=bands, band_names=cam.bands, source=f"scene-{i}", camera=config, gsd_m=info["gsd_m"])
        res = app.predict(img, runner)
        preds.append(res.cover)
        truths.append(truth)
        gsds.append(info["gsd_m"])
        for name, method in baseline.METHODS.items():
            base[name].append(method(img)["cover_fraction"])
    truth = np.stack(truths)
    report = {"n_scenes": int(n), "size_px": int(size), "zone_px": int(zone_px), "seed": int(seed),
              "gsd_cm_range": [round(min(gsds) * 100, 3), round(max(gsds) * 100, 3)],
              "model": zone_errors(np.stack(preds), truth, zone_px=zone_px)}
    for name, maps in base.items():
        report[f"baseline_{name}"] = zone_errors(np.stack(maps), truth, zone_px=zone_px)
    return report


def format_report(reports: dict) -> str:
    """A plain-text table: per config, zone MAE / RMSE / p95 and pixel MAE for model and baselines."""
    lines = [f"{'config':<15} {'method':<20} {'zone MAE':>9} {'zone RMSE':>10} {'zone p95':>9} {'pixel MAE':>10}"]
    for config, r in reports.items():
        for key in ("model", "baseline_dimidiate", "baseline_otsu"):
            m = r[key]
            lines.append(f"{config:<15} {key:<20} {m['zone_mae']:>9.4f} {m['zone_rmse']:>10.4f} "
                         f"{m['zone_p95']:>9.4f} {m['pixel_mae']:>10.4f}")
    first = next(iter(reports.values()))
    lines.append(f"{first['n_scenes']} scenes of {first['size_px']} px per camera, zones of {first['zone_px']} px, "
                 f"seed {first['seed']}")
    return "\n".join(lines)
