"""Issue 15 trial script: calibrate on one real data set's masks, test on each other data set (all six directions).

For every source S and target T != S: the core calibration path (:func:`edgeinv.common.calibrate.calibrate`, what
``edgeinv veg-cover calibrate`` runs) fits the segmentation model of T's camera (``rgb_fine`` for weedNet and
Carrot-Weed, ``red_nir_fine`` for CWFID) on S's masks -- both models read the same three coordinates from any
camera -- then :func:`edgeinv.apps.veg_cover.real_eval.evaluate_real` (what ``edgeinv veg-cover evaluate-real
--model`` runs) scores it on T. The labels of S and T are subsets of ``fvc_labels.csv`` written to a temporary
folder (nothing copied into the repository). The simulated frames mixed in are drawn once per (model, count) and
shared by that model's runs (time on a shared machine).

    python docs/apps/veg_cover_trials/calibration_directions.py shrink|noshrink [--n-sim 500] [--epochs 15]

Figures in docs/apps/veg_cover.md ("all six directions").
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

from edgeinv.apps.veg_cover.app import APP
from edgeinv.common.calibrate import CalibrationOptions, calibrate
from edgeinv.common.config import load_settings
from edgeinv.common.runtime.bundle import load_runner

ROOT = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "veg-cover"
CONFIG_OF = {"cwfid": "red_nir_fine", "weednet_scientifica": "rgb_fine", "carrot_weed": "rgb_fine"}


def _subsets(table: list[dict], tmp: Path) -> None:
    """Per data set: ``<ds>.csv`` (paths relative to ROOT, for calibrate) and ``dir_<ds>/fvc_labels.csv``
    (absolute paths, for evaluate_real)."""
    for ds in CONFIG_OF:
        rows = [r for r in table if r["dataset"] == ds]
        with open(tmp / f"{ds}.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        (tmp / f"dir_{ds}").mkdir()
        with open(tmp / f"dir_{ds}" / "fvc_labels.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows({**r, "image": str(ROOT / r["image"]), "mask": str(ROOT / r["mask"])} for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("shrink", "noshrink"))
    ap.add_argument("--n-sim", type=int, default=500)
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    settings = load_settings()
    cache = {}
    simulate = APP.simulate

    def cached(n, *, rng, config="multispectral5"):
        if (n, config) not in cache:
            cache[(n, config)] = simulate(n, rng=rng, config=config)
        return cache[(n, config)]

    APP.simulate = cached
    with open(ROOT / "fvc_labels.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _subsets(table, tmp)
        for config in ("rgb_fine", "red_nir_fine"):
            for source in CONFIG_OF:
                targets = [t for t in CONFIG_OF if t != source and CONFIG_OF[t] == config]
                if not targets:
                    continue
                out = tmp / f"cal_{source}_{config}"
                rep = calibrate(APP, ROOT, tmp / f"{source}.csv", out, settings=settings, config=config,
                                progress=False, options=CalibrationOptions(n_sim=args.n_sim, epochs=args.epochs,
                                                                           shrink=args.mode == "shrink"))
                print(rep["text"], flush=True)
                runner = load_runner(APP, settings.replace(models_dir=out), config=config)
                for target in targets:
                    ev = APP.evaluate_real(tmp / f"dir_{target}", lambda c: runner, gsd_sweep=False)
                    e = ev["summary"]["per_dataset"][target]
                    row = {"source": source, "target": target, "config": config, "mae": e["mae"],
                           "within": e["within"], "n": e["n"], "strength": (rep.get("shrink") or {}).get("strength"),
                           "scope": (rep.get("scope") or {}).get("reason")}
                    results.append(row)
                    print(f"{args.mode} {source} -> {target} ({config}): strength {row['strength']} "
                          f"MAE {e['mae']:.4f} within {e['within']}/{e['n']}", flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
