"""Issue 15 trial script: the real-data GSD check (``real_gsd``) on held-out simulated frames first.

Close-range simulated frames (``sim/fine_scene.render_fine``: individual leaves, binary truth, uncalibrated
camera counts) of ``SIDE`` px are area-averaged by k = 1, 2, 4, 8, 16 exactly as the real frames are
(:func:`edgeinv.apps.veg_cover.real_gsd.coarse_frame`), run through both paths with the shipped models, and the
error, flag and interval of each path are tabulated per camera and k. Truth: the share of leaf pixels over the
same area. Leaves are 2-25 px half-length at k = 1, so k = 16 already leaves most of them unresolved.

    python docs/apps/veg_cover_trials/gsd_sim_check.py [--n 40] [--side 256] [--seed 100003]

Figures in docs/apps/veg_cover.md ("Cover at any ground resolution").
"""

from __future__ import annotations

import argparse
import functools
import json

import numpy as np

from edgeinv.apps.veg_cover.app import APP
from edgeinv.apps.veg_cover.cameras import get_camera
from edgeinv.apps.veg_cover.real_gsd import TOLERANCE, block_mean, coarse_frame
from edgeinv.apps.veg_cover.sim.fine_scene import render_fine
from edgeinv.common.config import load_settings
from edgeinv.common.runtime.bundle import load_runner

KS = (1, 2, 4, 8, 16)


def frames(n: int, side: int, seed: int):
    """(camera, i, k, coarse frame bytes, true cover, scene info) of the held-out frames, in one fixed order (the
    other trial scripts that read these frames, e.g. gsd_upper_cluster.py, get the same ones)."""
    rng = np.random.default_rng(seed)
    for cam_name in ("red_nir", "rgb"):
        cam = get_camera(cam_name)
        for i in range(n):
            bands, truth, info = render_fine(camera=cam, shape_px=(side, side), rng=rng)
            for k in KS:
                yield cam_name, i, k, coarse_frame(bands, cam.bands, k), float(block_mean(truth.astype(np.float64),
                                                                                       k).mean()), info


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--seed", type=int, default=100003)
    ap.add_argument("--json")
    args = ap.parse_args()
    settings = load_settings()
    runner_for = functools.lru_cache(None)(lambda c: load_runner(APP, settings, config=c))
    rows = []
    for cam_name, i, k, data, truth, _ in frames(args.n, args.side, args.seed):
        row = {"cam": cam_name, "i": i, "k": k, "truth": truth}
        for p in ("segment", "unmix"):
            s = APP.read(data, filename="sim.png", path=p, gsd_cm=0.05 * k)
            r = APP.predict(s, runner_for(APP.config_for(s)))
            reasons = r.extra.get("ood_reasons") or []
            sd = r.confidence_std or 0.0
            row[p] = {"err": r.fvc_mean - row["truth"], "unc": r.extra.get("fvc_uncertainty") or 0.0,
                      "ood": bool(r.extra.get("ood")),
                      # the same result without the unmixing path's cross-check (confidence.CROSS_CHECK)
                      "ood_no_cross": any("disagree on uncalibrated" not in x for x in reasons),
                      "unc_no_cross": sd if p == "unmix" else r.extra.get("fvc_uncertainty") or 0.0}
        rows.append(row)
    print(f"{'camera':<8} {'k':>3} {'path':<8} {'MAE':>7} {'bias':>7} {'within':>7} {'in interval':>11} "
          f"{'flagged':>7} {'unflagged misses':>16} {'unflagged within':>16}")
    for cam in ("red_nir", "rgb"):
        for k in (*KS, "all"):
            rs = [r for r in rows if r["cam"] == cam and (k == "all" or r["k"] == k)]
            for p, sfx in (("segment", ""), ("unmix", ""), ("unmix", "_no_cross")):
                e = np.array([r[p]["err"] for r in rs])
                u = np.array([r[p]["unc" + sfx] for r in rs])
                o = np.array([r[p]["ood" + sfx] for r in rs])
                p = p + ("*" if sfx else "")
                ok = np.abs(e) <= TOLERANCE
                print(f"{cam:<8} {k!s:>3} {p:<8} {np.abs(e).mean():>7.4f} {e.mean():>+7.4f} {ok.sum():>3}/{len(e):<3} "
                      f"{(np.abs(e) <= u).sum():>11} {o.sum():>7} {(~ok & ~o).sum():>16} "
                      f"{(ok & ~o).sum():>10}/{(~o).sum():<5}")
    print("unmix*: the same results without the cross-check against the image's own split (flag and interval)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh)


if __name__ == "__main__":
    main()
