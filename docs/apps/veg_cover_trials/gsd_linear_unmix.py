"""Issue 15 trial script: the design of the unmixing path on camera counts (``radiometry.pure_levels``).

Close-range simulated frames (``sim/fine_scene.render_fine``: leaves, binary truth, uncalibrated counts) area-averaged
by k = 1..32 (``real_gsd.coarse_frame``, as the real frames are). Per coarse frame, on linear counts (RGB sRGB-decoded),
the image's coordinate ``t`` along its discriminant (``radiometry.image_levels``) and these estimates of the cover:

* ``split``: share of pixels on the vegetation side (the cross-check of stop 23);
* ``clip``: mean of clip(t, 0, 1), the cluster medians as levels (``gsd_cluster_unmix.py``, not taken then);
* ``q90``: mean(t) / the 90th percentile of the vegetation side (a percentile as the vegetation level);
* ``interior``: the levels of the clusters' *interior* pixels (all 8 neighbours on the same side): soil = their
  median, vegetation = their mean, cover = mean of clip((t - soil) / (veg - soil), 0, 1) -- what the app ships.

Columns per camera and k: MAE, bias, within 0.03 of n; then, with the app's flags (no pure vegetation: fewer than
``PURE_MIN_PX`` interior vegetation pixels; a flat upper cluster: spread < ``FLAT_SPREAD`` or interior share >
``FLAT_INTERIOR``), flagged / unflagged within / unflagged misses. The estimator and the flat-cluster constants were
chosen on the design seed 300007 (with a prototype of this script), then the real sweep was run; ``PURE_FLAG_PX``
(20, was 3), ``REL_UNCERTAINTY`` and ``NO_PURE_RATIO`` (0.77, the median truth / estimate of this script's design
results without pure vegetation) were set after seeing it (docs), then the held-out seed 100003 was run with the
final rules.

    python docs/apps/veg_cover_trials/gsd_linear_unmix.py [--seed 300007] [--n 40]

Caveat: 60 % of simulated frames carry an unknown gamma (1.6-2.4) and the coarse frames average encoded counts as
``coarse_frame`` does for their camera (red+NIR linear, RGB sRGB): mixing is then not exactly linear, as on a real
camera whose encoding is guessed wrong. Figures in docs/apps/veg_cover.md ("Cover at any ground resolution").
"""

from __future__ import annotations

import argparse

import numpy as np

from edgeinv.apps.veg_cover.app import APP
from edgeinv.apps.veg_cover.cameras import get_camera
from edgeinv.apps.veg_cover.features import FEATURES, select_bands
from edgeinv.apps.veg_cover.radiometry import discriminant, image_levels, linear_counts, pure_levels, unmix_counts
from edgeinv.apps.veg_cover.real_gsd import TOLERANCE, block_mean, coarse_frame
from edgeinv.apps.veg_cover.sim.fine_scene import render_fine

KS = (1, 2, 4, 8, 16, 32)
METHODS = ("split", "clip", "q90", "interior")


def estimates(data: bytes, fine: str) -> tuple[dict, bool | None]:
    s = APP.read(data, filename="sim.png").load()
    names = FEATURES[fine][0]
    raw = select_bands(s.bands, s.band_names, fine)
    x, _ = linear_counts(raw, names)
    lv = image_levels(x, names)
    out = {"split": float(lv.veg_share)}
    if lv.weights is None:
        return out, None
    t = discriminant(x, lv).astype(np.float64)
    out["clip"] = float(np.clip(t, 0, 1).mean())
    vs = t[t > 0.5]
    out["q90"] = float(np.clip(t.mean() / np.percentile(vs, 90), 0, 1)) if vs.size >= 3 else None
    pl = pure_levels(raw, names)
    if pl is None:
        return out, None
    out["interior"] = float(unmix_counts(raw, names, pl).mean())
    return out, (not pl.pure) or pl.flat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=300007)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    for cam_name, fine in (("red_nir", "red_nir_fine"), ("rgb", "rgb_fine")):
        cam = get_camera(cam_name)
        for _ in range(args.n):
            bands, truth, _ = render_fine(camera=cam, shape_px=(256, 256), rng=rng)
            for k in KS:
                est, flag = estimates(coarse_frame(bands, cam.bands, k), fine)
                rows.append({"cam": cam_name, "k": k, "truth": float(block_mean(truth.astype(np.float64), k).mean()),
                             "est": est, "flag": flag})
    print(f"{'camera':<8} {'k':>3} " + " ".join(f"{m:<22}" for m in METHODS)
          + " interior: flagged, unflagged within, unflagged misses")
    for cam in ("red_nir", "rgb"):
        for k in (*KS, "all"):
            rs = [r for r in rows if r["cam"] == cam and (k == "all" or r["k"] == k)]
            cells = []
            for m in METHODS:
                # no estimate (no two clusters): counted as a miss of 1
                e = np.array([r["est"][m] - r["truth"] if r["est"].get(m) is not None else 1.0 for r in rs])
                cells.append(f"{np.abs(e).mean():.3f} {e.mean():+.3f} {(np.abs(e) <= TOLERANCE).sum():>3}/{len(e):<3}")
            e = np.array([r["est"]["interior"] - r["truth"] if r["est"].get("interior") is not None else 1.0
                          for r in rs])
            fl = np.array([r["flag"] is not False for r in rs])  # no estimate counts as flagged
            ok = np.abs(e) <= TOLERANCE
            print(f"{cam:<8} {k!s:>3} " + " ".join(f"{c:<22}" for c in cells)
                  + f" {fl.sum():>3} {(ok & ~fl).sum():>3}/{(~fl).sum():<3} {(~ok & ~fl).sum():>3}")


if __name__ == "__main__":
    main()
