"""Issue 15 trial script: is the upper cluster vegetation? The unmixing path on camera counts, per simulated frame.

The frames of ``gsd_sim_check.py`` (same seed, same order: close-range ``render_fine`` frames area-averaged by k = 1..16
as the real frames are) run through the unmixing path only, with the background each frame was drawn with (soil kind,
a tray / crate / cloth surface and its level) and the image's pure-level statistics: ``greenness``
(:func:`edgeinv.apps.veg_cover.radiometry.greenness`, the upper cluster's purest pixels over the background's, band
ratios in linear counts), the share of pixels on the vegetation side (``split``), interior counts, the flat-cluster and
no-pure flags. Prints the unflagged misses and, per camera, how a greenness floor would split unflagged results into
within / misses. The checks ``MIN_GREENNESS``, ``MAX_SPLIT_EXCESS`` and ``UNDER_SPLIT_*`` (radiometry.py) were set
from this script's JSON on the design seed 300007 *before* they existed in the app (its ``ood`` column is then the
earlier rules' flag; with the checks in place it already includes them).

    python docs/apps/veg_cover_trials/gsd_upper_cluster.py [--seed 300007] [--n 40] [--json out.json]

Figures in docs/apps/veg_cover.md ("Cover at any ground resolution").
"""

from __future__ import annotations

import argparse
import functools
import json

import numpy as np

from edgeinv.apps.veg_cover.app import APP
from edgeinv.apps.veg_cover.real_gsd import TOLERANCE
from edgeinv.common.config import load_settings
from edgeinv.common.runtime.bundle import load_runner
from gsd_sim_check import frames  # this folder is on sys.path when the script runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--seed", type=int, default=300007)
    ap.add_argument("--json")
    args = ap.parse_args()
    settings = load_settings()
    runner_for = functools.lru_cache(None)(lambda c: load_runner(APP, settings, config=c))
    rows = []
    for cam_name, i, k, data, t, info in frames(args.n, args.side, args.seed):  # the frames of gsd_sim_check.py
        s = APP.read(data, filename="sim.png", path="unmix", gsd_cm=0.05 * k)
        r = APP.predict(s, runner_for(APP.config_for(s)))
        e = r.extra
        pl = e.get("pure_levels") or {}
        lo, hi = e.get("fvc_interval") or (r.fvc_mean, r.fvc_mean)
        rows.append({"cam": cam_name, "i": i, "k": k, "truth": t, "est": r.fvc_mean, "err": r.fvc_mean - t,
                     "ood": bool(e.get("ood")), "reasons": e.get("ood_reasons") or [],
                     "in_interval": bool(lo - 1e-9 <= t <= hi + 1e-9),
                     "background": info["background"], "surface": info["surface"],
                     **{key: pl.get(key) for key in ("greenness", "flat", "pure", "n_pure_veg", "n_veg", "spread")},
                     "split": (pl.get("levels") or {}).get("veg_share")})
    for r in rows:
        if abs(r["err"]) > TOLERANCE and not r["ood"]:
            print(f"miss {r['cam']:<7} i={r['i']:>2} k={r['k']:>2} truth {r['truth']:.3f} est {r['est']:.3f} "
                  f"bg {r['background']:<11} surface {r['surface']!s:<6.6} green {r['greenness']!s:<6.6} "
                  f"pure {r['n_pure_veg']}/{r['n_veg']} spread {r['spread']!s:<5.5}")
    for cam in ("red_nir", "rgb"):
        rs = [r for r in rows if r["cam"] == cam]
        e = np.array([r["err"] for r in rs])
        o = np.array([r["ood"] for r in rs])
        g = np.array([np.nan if r["greenness"] is None else r["greenness"] for r in rs])
        ok = np.abs(e) <= TOLERANCE
        print(f"{cam}: MAE {np.abs(e).mean():.4f}, flagged {o.sum()}/{len(e)}, unflagged within {(ok & ~o).sum()}, "
              f"unflagged misses {(~ok & ~o).sum()}")
        for floor in (0.0, 0.05, 0.1, 0.15, 0.2, 0.3):
            low = ~(g >= floor)  # NaN counts as not green
            f = o | low
            print(f"  greenness floor {floor:.2f}: flagged {f.sum()}, unflagged within {(ok & ~f).sum()}, "
                  f"unflagged misses {(~ok & ~f).sum()}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh)


if __name__ == "__main__":
    main()
