"""Trial (issue 15, weedNet's misses): would a general post-rule on the segmentation mask gain images without losing any?

Looked at first (the five weedNet misses' pixel maps, model mask vs hand mask): the missed pixels of 0011 and 0019
lie *inside* leaves (over-exposed white or pale centres) and along stems; 0024's inside the mask's generous outline
and in soil gaps the mask fills. Candidate rules, each general (no per-file setting), scored against every real mask:

* ``fill<=A``: holes of the model's vegetation mask up to A pixels, enclosed by vegetation, counted as vegetation
  (a leaf's over-exposed or specular centre; a soil gap between touching leaves too);
* ``fill_clipped<=A``: the same, but only holes whose pixels are pale or clipped (every channel >= 0.9 of full scale
  or grey) -- the over-exposure case alone;
* ``open1``: a 3 x 3 opening of the mask (drops isolated false pixels and 1-2 px stems).

Usage: ``python docs/apps/veg_cover_trials/weednet_holes.py [REALDATA_DIR]`` (about 3 min; prints per-image errors and
the within-0.03 counts per data set for each rule). Carrot-Weed's 8 MP maps are kept in memory for this script only.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from edgeinv.apps.veg_cover import APP
from edgeinv.apps.veg_cover import app as app_module
from edgeinv.apps.veg_cover.real_eval import TOLERANCE, _read_mask
from edgeinv.common.config import load_settings, realdata_root
from edgeinv.common.runtime.bundle import load_runner

ROOT = Path(__file__).resolve().parents[3]
AREAS = (16, 64, 256)


def rules(pred: np.ndarray, bands: np.ndarray) -> dict[str, np.ndarray]:
    out = {"shipped": pred}
    holes = ndi.binary_fill_holes(pred) & ~pred
    lab, n = ndi.label(holes)
    size = np.bincount(lab.ravel(), minlength=n + 1)
    bright = bands.min(axis=0)
    pale = (bright >= 0.9) | (bands.max(axis=0) - bands.min(axis=0) < 0.05 * bands.max(axis=0).clip(1e-3))
    pale_share = np.bincount(lab.ravel(), weights=pale.ravel(), minlength=n + 1) / np.maximum(size, 1)
    for a in AREAS:
        keep = size <= a
        keep[0] = False
        out[f"fill<={a}"] = pred | keep[lab]
        keep_c = keep & (pale_share > 0.5)
        out[f"fill_clipped<={a}"] = pred | keep_c[lab]
    out["open1"] = ndi.binary_opening(pred, np.ones((3, 3), bool))
    return out


def main(data_dir: Path) -> None:
    app_module.MEMORY_PIXELS = 9_000_000  # this script only: keep Carrot-Weed's maps
    settings = load_settings(env={}, models_dir=ROOT / "models")
    with open(data_dir / "fvc_labels.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    errors: dict[str, dict[str, list[float]]] = {}
    for rec in table:
        path = data_dir / rec["image"]
        sample = APP.read(path, filename=path.name)
        config = APP.config_for(sample)
        sample.options["keep_maps"] = True
        res = APP.predict(sample, load_runner(APP, settings, config=config))
        truth = float(rec["true_fvc"])
        mask = _read_mask(data_dir / rec["mask"], truth, res.cover.shape)
        ok = np.isfinite(res.cover)
        pred = (res.cover > 0.5) & ok
        bands = sample.load().bands
        line = []
        for name, m in rules(pred, bands).items():
            e = float(m[ok].mean()) - truth
            errors.setdefault(rec["dataset"], {}).setdefault(name, []).append(e)
            line.append(f"{name} {e:+.3f}")
        print(f"{Path(rec['image']).name:<22} " + "  ".join(line), flush=True)
        del mask
    print()
    names = list(next(iter(errors.values())))
    print(f"{'rule':<18} " + " ".join(f"{ds[:12]:>20}" for ds in errors) + "   all within")
    for name in names:
        cells, total = [], 0
        for ds, by in errors.items():
            e = np.abs(by[name])
            total += int(np.sum(e <= TOLERANCE))
            cells.append(f"{int(np.sum(e <= TOLERANCE)):>3}/{e.size:<2} {e.mean():.4f}")
        print(f"{name:<18} " + " ".join(f"{c:>20}" for c in cells) + f"   {total}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else realdata_root() / "veg-cover")
