"""The App glue: reading with meta, config choice, evaluation extras, and a tiny training run end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.io import write_leaves_csv
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves
from edgeinv.common.app import TrainRecipe
from edgeinv.common.errors import ConfigError, InvalidInputError


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    leaves = simulate_leaves(3, rng=np.random.default_rng(5), config="full")
    return write_leaves_csv(tmp_path_factory.mktemp("ln") / "three.csv", leaves)


def test_read_many_with_factor_and_sensor(csv_path):
    leaves = APP.read_many(csv_path, filename="three.csv", n_to_protein=5.0, sensor="vnir")
    assert [lf.sample for lf in leaves] == ["sim00000", "sim00001", "sim00002"]
    assert leaves[0].meta == {"percent": False, "n_to_protein": 5.0, "sensor": "vnir"}
    assert APP.config_for(leaves[0]) == "vnir"  # a full-range spectrum can be run through the VNIR model
    assert APP.config_for(APP.read_many(csv_path)[0]) == "full"
    with pytest.raises(InvalidInputError, match="holds 3 leaves"):
        APP.read(csv_path)
    with pytest.raises(InvalidInputError, match="n-to-protein"):
        APP.read_many(csv_path, n_to_protein=-1)
    with pytest.raises(ConfigError):
        APP.read_many(csv_path, sensor="swir")


def test_forcing_a_sensor_the_range_cannot_serve(tmp_path):
    leaves = simulate_leaves(1, rng=np.random.default_rng(1), config="vnir")
    path = write_leaves_csv(tmp_path / "v.csv", leaves)
    with pytest.raises(InvalidInputError, match="needs 400-2500"):
        APP.read_many(path, sensor="full")


def test_evaluate_reports_nitrogen_and_calibration():
    ds = APP.simulate(40, rng=np.random.default_rng(2), config="trimmed")
    perfect = {k: v.copy() for k, v in ds.y.items()}
    for t in APP.targets:
        if t.uncertainty:
            perfect[f"{t.name}_std"] = np.full(len(ds), 0.1 * t.range, np.float32)
    extra = APP.evaluate(perfect, ds)
    assert extra["nitrogen_g_m2"]["rmse"] == pytest.approx(0.0, abs=1e-6)
    assert extra["within_1sd"]["protein_g_cm2"] == 1.0
    biased = dict(perfect, protein_g_cm2=perfect["protein_g_cm2"] + np.float32(4.43e-5))  # +0.1 g N/m2
    assert APP.evaluate(biased, ds)["nitrogen_g_m2"]["bias"] == pytest.approx(0.1, rel=1e-3)


def test_tiny_training_export_and_edge_prediction(tmp_path):
    """Core loop + export on a tiny recipe: the ONNX model runs the edge path and learns something."""
    torch = pytest.importorskip("torch")
    from edgeinv.common.export import export_onnx
    from edgeinv.common.runtime.session import OnnxModel
    from edgeinv.common.train import build_seeded, fit

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    config = "vnir"
    train, val = APP.simulate(600, rng=rng, config=config), APP.simulate(100, rng=rng, config=config)
    recipe = dataclasses.replace(APP.recipe(config), epochs=12, batch_size=64, patience=12)
    from edgeinv.common.app import ModelSize

    trained = fit(build_seeded(APP, config, ModelSize.TEACHER, seed=0), train, val, APP, recipe=recipe, progress=False)
    path = tmp_path / "tiny.onnx"
    report = export_onnx(trained, APP, config, path, example_x=val.x, variant="teacher_fp32")
    assert report["ok"]
    model = OnnxModel(path)
    out = model(val.x)
    assert set(out) == set(APP.output_names())
    chl_rmse = float(np.sqrt(np.mean((out["chlorophyll_ug_cm2"] - val.y["chlorophyll_ug_cm2"]) ** 2)))
    assert chl_rmse < 0.5 * float(np.std(val.y["chlorophyll_ug_cm2"]))  # better than predicting the mean
    result = APP.predict(val.samples[0], model)
    assert result.config == "vnir" and result.values["nitrogen_g_m2"] > 0 and result.stds["nitrogen_g_m2"] > 0


def test_recipe_and_shapes():
    for config in APP.configs:
        r = APP.recipe(config)
        assert isinstance(r, TrainRecipe) and r.budget.allowed(APP.target("protein_g_cm2")) == 0.002
    assert APP.input_shape("full") == (422,) and APP.input_shape("trimmed") == (382,) and APP.input_shape("vnir") == (242,)
    with pytest.raises(ConfigError):
        APP.input_shape("default")
