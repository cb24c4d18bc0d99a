"""The manifest's ``real`` section is what the shipped models give: three recorded frames re-run (one per data set
whose maps fit in memory), estimate, interval, flag and error budget equal to the record."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
REAL = ROOT.parent / "shared" / "realdata" / "veg-cover"
PICKED = ("cwfid/images/020_image.png", "weednet_scientifica/images/0011_rgb_weed.png",
          "weednet_scientifica/images/0016_rgb_crop.png")


def _labels_for(picked, folder: Path) -> None:
    """``folder/fvc_labels.csv``: the real labels table's rows of the ``picked`` images, with absolute paths."""
    with open(REAL / "fvc_labels.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["image"] in picked]
    with open(folder / "fvc_labels.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "image": str(REAL / r["image"]), "mask": str(REAL / r["mask"])})


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata/veg-cover not present")
def test_recorded_real_rows_are_reproduced(vc_app, tmp_path):
    from edgeinv.common.config import load_settings
    from edgeinv.common.runtime.bundle import load_runner

    manifest = json.loads((ROOT / "models" / "veg_cover" / "manifest.json").read_text())
    recorded = {r["image"]: r for r in manifest["real"]["rows"]}
    _labels_for(PICKED, tmp_path)
    settings = load_settings(env={}, models_dir=ROOT / "models")
    out = vc_app.evaluate_real(tmp_path, lambda config: load_runner(vc_app, settings, config=config))
    assert len(out["rows"]) == 3
    for row in out["rows"]:
        rec = recorded[Path(row["image"]).relative_to(REAL).as_posix()]
        assert row["fvc"] == pytest.approx(rec["fvc"], abs=1e-6)
        assert row["fvc_uncertainty"] == pytest.approx(rec["fvc_uncertainty"], abs=1e-6)
        assert row["ood"] == rec["ood"] and row["within"] == rec["within"]
        for k, v in rec["pixels"]["classes"].items():
            assert row["pixels"]["classes"][k] == pytest.approx(v, abs=1e-9), k
    # the budget says what the misses are made of: 0011's leaves clipped white, 0016's leaf the mask leaves out
    by_name = {Path(r["image"]).name: r["pixels"]["classes"] for r in out["rows"]}
    assert by_name["0011_rgb_weed.png"]["missed_saturated"] > 0.02
    assert by_name["0016_rgb_crop.png"]["false_unlabelled_plant"] > 0.02
    assert np.isfinite([r["fvc"] for r in out["rows"]]).all()


@pytest.mark.skipif(not REAL.is_dir(), reason="../shared/realdata/veg-cover not present")
def test_recorded_gsd_rows_are_reproduced(vc_app, tmp_path):
    """The manifest's ``real.gsd`` (the frames area-averaged to coarser GSDs) is what the shipped models give:
    one CWFID and one Carrot-Weed frame re-run at every GSD, both paths."""
    from edgeinv.apps.veg_cover.real_gsd import evaluate_gsd
    from edgeinv.common.config import load_settings
    from edgeinv.common.runtime.bundle import load_runner

    manifest = json.loads((ROOT / "models" / "veg_cover" / "manifest.json").read_text())
    recorded = {(r["image"], r["gsd_cm"]): r for r in manifest["real"]["gsd"]["rows"]}
    _labels_for(("cwfid/images/020_image.png", "carrot_weed/images/IMG_3453.JPG"), tmp_path)
    settings = load_settings(env={}, models_dir=ROOT / "models")
    out = evaluate_gsd(vc_app, tmp_path, lambda config: load_runner(vc_app, settings, config=config))
    assert len(out["rows"]) == 2 * len(manifest["real"]["gsd"]["gsds_cm"])
    for row in out["rows"]:
        rec = recorded[(Path(row["image"]).relative_to(REAL).as_posix(), row["gsd_cm"])]
        assert row["true_fvc"] == pytest.approx(rec["true_fvc"], abs=1e-9)
        for p in ("segment", "unmix"):
            assert row["paths"][p]["fvc"] == pytest.approx(rec["paths"][p]["fvc"], abs=1e-6), (row["image"], p)
            assert row["paths"][p]["ood"] == rec["paths"][p]["ood"]
        for k, v in rec["baselines"].items():
            assert row["baselines"][k] == pytest.approx(v, abs=1e-9)
