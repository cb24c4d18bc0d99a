"""Trial (issue 15): is the own-data ceiling (``edgeinv veg-cover ceiling``) limited by the learner rather than the labels?

Re-runs the leave-one-image-out pixel classifier on one data set (default weedNet) three ways:

* ``shipped``: what ``ceiling`` runs (3,000 training pixels per image, size chosen inside the folds);
* ``seed 1``: the same with other random training pixels (the ceiling's own sampling spread);
* ``large``: 10,000 training pixels per image and one large learner fixed beforehand (255 leaves, 300 rounds,
  no selection: nothing chosen on any image) -- more capacity and data than the folds' choice ever took.

Usage: ``python docs/apps/veg_cover_trials/ceiling_capacity.py [DATASET] [REALDATA_DIR]`` (about 35 min for weedNet on
the shared machine). Prints per image the held-out cover error of each, and within +-0.03 / MAE.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgeinv.apps.veg_cover import APP
from edgeinv.apps.veg_cover import ceiling as ceil
from edgeinv.common.config import realdata_root


def subset(data_dir: Path, dataset: str, folder: Path) -> Path:
    with open(data_dir / "fvc_labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["dataset"] == dataset]
    with open(folder / "fvc_labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows({**r, "image": str(data_dir / r["image"]), "mask": str(data_dir / r["mask"])} for r in rows)
    return folder


def run(folder: Path, *, seed: int, train_px: int, candidates) -> list[dict]:
    ceil.SEED, ceil.TRAIN_PX, ceil.CANDIDATES = seed, train_px, candidates
    entries = next(iter(ceil.read_sets(APP, folder).values()))
    return ceil.own_data(entries)


def main(dataset: str, data_dir: Path) -> None:
    shipped = (ceil.SEED, ceil.TRAIN_PX, ceil.CANDIDATES)
    with tempfile.TemporaryDirectory() as tmp:
        folder = subset(data_dir, dataset, Path(tmp))
        runs = {"shipped": run(folder, seed=shipped[0], train_px=shipped[1], candidates=shipped[2]),
                "seed 1": run(folder, seed=1, train_px=shipped[1], candidates=shipped[2]),
                "large": run(folder, seed=shipped[0], train_px=10_000,
                             candidates=({"max_leaf_nodes": 255, "max_iter": 300},))}
    names = [Path(r["image"]).name for r in runs["shipped"]]
    print(f"{'image':<22} " + " ".join(f"{k:>9}" for k in runs))
    for i, n in enumerate(names):
        print(f"{n:<22} " + " ".join(f"{runs[k][i]['error']:>+9.3f}" for k in runs))
    for k, rows in runs.items():
        e = np.abs([r["error"] for r in rows])
        print(f"{k}: {int(np.sum(e <= ceil.TOLERANCE))}/{e.size} within +-{ceil.TOLERANCE}, MAE {e.mean():.4f}, "
              f"pixel accuracy {np.mean([r['pixel_accuracy'] for r in rows]):.3f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "weednet_scientifica",
         Path(sys.argv[2]) if len(sys.argv) > 2 else realdata_root() / "veg-cover")
