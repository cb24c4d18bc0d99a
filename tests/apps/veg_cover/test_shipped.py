"""The shipped models: intact, small, and as accurate as the manifest says on held-out scenes, beating both baselines.

The held-out scenes are re-simulated with the manifest's seed (the first N of the very set the
manifest was scored on), run through the chosen variant, and scored per zone like ``App.evaluate``.
"""

import numpy as np
import pytest

from edgeinv.common.config import load_settings
from edgeinv.common.runtime.bundle import load_runner, read_manifest, verify_release

N = 40


@pytest.fixture(scope="module")
def manifest(vc_app):
    folder = vc_app.models_dir(load_settings(env={}))
    if not (folder / "manifest.json").is_file():
        pytest.fail("models/veg_cover/manifest.json is missing: run `make models`")
    verify_release(folder)
    return read_manifest(folder)


def test_every_camera_has_a_small_release(vc_app, manifest):
    assert set(manifest["configs"]) == set(vc_app.configs)
    folder = vc_app.models_dir(load_settings(env={}))
    for entry in manifest["configs"].values():
        assert entry["chosen"] in entry["variants"]
        for v in entry["variants"].values():
            assert (folder / v["file"]).stat().st_size < 5 * 2**20


@pytest.mark.parametrize("config", ["multispectral5", "red_nir", "rgb"])
def test_heldout_zone_error_matches_manifest_and_beats_baselines(vc_app, manifest, config):
    pytest.importorskip("prosail")
    from edgeinv.common.metrics import predict_batched

    entry = manifest["configs"][config]
    chosen = entry["variants"][entry["chosen"]]
    claimed = chosen["metrics"]["extra"]["model"]["zone_mae"]
    ds = vc_app.simulate(N, rng=np.random.default_rng(entry["heldout"]["seed"]), config=config)
    runner = load_runner(vc_app, load_settings(env={}), config=config)
    from edgeinv.apps.veg_cover.app import ZONE_PX_EVAL
    from edgeinv.apps.veg_cover.evaluation import evaluate_baselines

    rep = vc_app.evaluate(predict_batched(runner, ds.x), ds)
    assert set(rep) == {"zone_px", "model"}  # evaluation scores only what it is given
    rep.update(evaluate_baselines(ds.samples, ds.y["cover_fraction"], zone_px=ZONE_PX_EVAL))
    model = rep["model"]["zone_mae"]
    # a 40-scene subset of the 300 scored in the manifest: the same order of error, not the same digits
    assert model <= 1.6 * claimed + 0.005, (model, claimed)
    assert model < rep["baseline_dimidiate"]["zone_mae"] and model < rep["baseline_otsu"]["zone_mae"]
    assert rep["model"]["zone_p95"] <= max(0.35, 2 * chosen["metrics"]["extra"]["model"]["zone_p95"])
