"""Issue 15 trial script: the segmentation path on held-out simulated close-range frames -- its unflagged misses, the
"two unusually uniform clusters" flag (``confidence.MAX_SEPARATION``) and the sub-pixel count of the mask's boundary
(``confidence.subpixel_fraction``).

Frames from ``sim/fine_scene.render_fine`` (binary truth, uncalibrated counts; *not* redrawn when their upper
cluster is no vegetation, unlike the training frames) of 256 px, area-averaged by k = 1, 4, 16
(:func:`edgeinv.apps.veg_cover.real_gsd.coarse_frame`, as the real GSD sweep), run through ``--path segment`` with the
shipped fine models. Per result: the error, the flag with and without the uniform-cluster reason, the d' of the
image's two clusters, whether its upper cluster is vegetation (share of true leaf pixels among the pixels above the
midway between the levels), and the cover five ways, whatever the app chose at that GSD: the mask's share
(P > 0.5), the mask with its boundary pixels unmixed along the discriminant (:func:`subpixel_fraction`, shipped),
and, not taken, the mean P and the boundary counted by P or by the chromatic coordinate.

    python docs/apps/veg_cover_trials/uniform_clusters.py --seed 200001   # design
    python docs/apps/veg_cover_trials/uniform_clusters.py --seed 300007   # held out

Figures in docs/apps/veg_cover.md ("Honest flags on the segmentation path", "Mixed pixels").
"""

from __future__ import annotations

import argparse
import functools

import numpy as np

from edgeinv.apps.veg_cover import features
from edgeinv.apps.veg_cover.app import APP
from edgeinv.apps.veg_cover.cameras import get_camera
from edgeinv.apps.veg_cover.confidence import MAX_SEPARATION, subpixel_fraction
from edgeinv.apps.veg_cover.radiometry import discriminant
from edgeinv.apps.veg_cover.real_gsd import TOLERANCE, block_mean, coarse_frame
from edgeinv.apps.veg_cover.sim.fine_scene import render_fine
from edgeinv.common.config import load_settings
from edgeinv.common.runtime.bundle import load_runner

KS = (1, 4, 16)


def run(n: int, seed: int, side: int) -> list[dict]:
    settings = load_settings()
    runner_for = functools.lru_cache(None)(lambda c: load_runner(APP, settings, config=c))
    rng = np.random.default_rng(seed)
    rows = []
    for cam_name in ("red_nir", "rgb"):
        cam = get_camera(cam_name)
        for i in range(n):
            bands, truth, _ = render_fine(camera=cam, shape_px=(side, side), rng=rng)
            for k in KS:
                tr = block_mean(truth.astype(np.float64), k)
                s = APP.read(coarse_frame(bands, cam.bands, k), filename="sim.png", path="segment", gsd_cm=0.05 * k)
                config = APP.config_for(s)
                r = APP.predict(s, runner_for(config))
                lv, img = s.levels, s.load()
                x = features.channels(img.bands, img.band_names, config, levels=lv)
                upper = discriminant(features.select_bands(img.bands, img.band_names, config), lv) > 0.5 \
                    if lv.found else np.zeros(tr.shape, bool)
                reasons = r.extra.get("ood_reasons") or []
                rows.append({"cam": cam_name, "k": k, "truth": float(tr.mean()), "err": r.fvc_mean - float(tr.mean()),
                             "ood": bool(reasons), "ood_before": any("uniform" not in m for m in reasons),
                             "in_interval": abs(r.fvc_mean - tr.mean()) <= r.extra["fvc_uncertainty"],
                             "sep": lv.separation if lv.found else None,
                             "upper_is_veg": bool(upper.any() and tr[upper].mean() >= 0.5) if lv.found else None,
                             "mask": float(np.mean(r.probability > 0.5)),
                             "subpixel": float(np.mean(subpixel_fraction(r.probability, x[0]))),
                             # not taken: the mean P; the boundary counted by P, or by the chromatic coordinate
                             "mean_p": float(np.mean(r.probability)),
                             "boundary_p": float(np.mean(subpixel_fraction(r.probability, r.probability))),
                             "boundary_chroma": float(np.mean(subpixel_fraction(r.probability, x[1])))})
    return rows


def report(rows: list[dict]) -> None:
    print(f"flags, all k ({', '.join(map(str, KS))}); a miss is |error| > {TOLERANCE}; before = without the "
          f"uniform-cluster reason (d' > {MAX_SEPARATION:g})")
    for cam in ("red_nir", "rgb"):
        rs = [r for r in rows if r["cam"] == cam]
        e = np.abs([r["err"] for r in rs])
        for name, key in (("before", "ood_before"), ("after", "ood")):
            o = np.array([r[key] for r in rs])
            print(f"  {cam:<8} {name:<6} n {len(rs)}  unflagged misses {int(((e > TOLERANCE) & ~o).sum()):>3} "
                  f"(> 0.1: {int(((e > 0.1) & ~o).sum()):>3})  right results flagged {int(((e <= TOLERANCE) & o).sum()):>3}"
                  f" of {int((e <= TOLERANCE).sum())}")
        new = [r for r in rs if r["ood"] and not r["ood_before"]]
        print(f"  {cam:<8} newly flagged {len(new)}, of them right {sum(abs(r['err']) <= TOLERANCE for r in new)}; "
              f"truth in interval {sum(r['in_interval'] for r in rs)} of {len(rs)}")
        veg = np.array([r["sep"] for r in rs if r["upper_is_veg"]])
        other = np.array([r["sep"] for r in rs if r["upper_is_veg"] is False])
        print(f"  {cam:<8} d' where the upper cluster is vegetation: n {veg.size}, median {np.median(veg):.1f}, 99th "
              f"pct {np.percentile(veg, 99):.1f}, max {veg.max():.1f}; where it is not: n {other.size}, "
              f"{int((other > MAX_SEPARATION).sum())} above {MAX_SEPARATION:g}")
    print("cover of frames whose upper cluster is vegetation: MAE / bias / within; mask, boundary unmixed (shipped), "
          "mean P, boundary by P, boundary by chroma")
    for cam in ("red_nir", "rgb"):
        for k in KS:
            rs = [r for r in rows if r["cam"] == cam and r["k"] == k and r["upper_is_veg"]]
            out = []
            for key in ("mask", "subpixel", "mean_p", "boundary_p", "boundary_chroma"):
                e = np.array([r[key] - r["truth"] for r in rs])
                out.append(f"{key} {np.abs(e).mean():.4f} {e.mean():+.4f} {int((np.abs(e) <= TOLERANCE).sum())}/{len(e)}")
            print(f"  {cam:<8} k {k:>2}  " + "   ".join(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--seed", type=int, default=300007)
    args = ap.parse_args()
    report(run(args.n, args.seed, args.side))


if __name__ == "__main__":
    main()
