"""Training smoke test: a tiny recipe trains, prunes, exports to ONNX and serves the whole-file edge path."""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeinv.apps.bearing_wear import APP  # noqa: E402
from edgeinv.apps.bearing_wear.features import INPUT_SHAPE  # noqa: E402
from edgeinv.common.app import ModelSize  # noqa: E402


@pytest.fixture(scope="module")
def data():
    ds = APP.simulate(48, rng=np.random.default_rng(4))
    return ds.subset(np.arange(36)), ds.subset(np.arange(36, 48))


def test_networks_shapes():
    x = torch.zeros(3, *INPUT_SHAPE)
    for size in ModelSize:
        logits, size_z, logvar = APP.build_model("default", size)(x)
        assert logits.shape == (3, 5) and size_z.shape == (3,) and logvar.shape == (3,)
    n_t = sum(p.numel() for p in APP.build_model("default", ModelSize.TEACHER).parameters())
    n_s = sum(p.numel() for p in APP.build_model("default", ModelSize.STUDENT).parameters())
    assert n_s < n_t / 3


def test_tiny_training_export_and_predict(data, tmp_path):
    from edgeinv.common.compress.prune import prune_module
    from edgeinv.common.export import export_onnx
    from edgeinv.common.runtime.session import OnnxModel
    from edgeinv.common.train import build_seeded, fit

    train, val = data
    recipe = dataclasses.replace(APP.recipe("default"), epochs=3, batch_size=8, patience=2)
    trained = fit(build_seeded(APP, "default", ModelSize.TEACHER, seed=0), train, val, APP, recipe=recipe, progress=False)
    assert np.isfinite(trained.best_val_loss)
    pruned, report = prune_module(trained.module, torch.from_numpy(train.x[:4]), ratio=0.4)
    assert report["params_after"] < report["params_before"]
    path = tmp_path / "teacher_fp32.onnx"
    parity = export_onnx(trained, APP, "default", path, example_x=val.x, variant="teacher_fp32")
    assert parity["ok"]
    runner = OnnxModel(path)
    out = runner(val.x[:3])
    assert out["fault"].shape == (3, 5) and np.allclose(out["fault"].sum(axis=1), 1.0, atol=1e-5)
    assert np.all(out["defect_size_mm_std"] > 0)
    # a 3-window recording gives one combined result
    rec = APP.simulate_recording(val.samples[0].conditions, rng=np.random.default_rng(1),
                                 duration_s=3.2 * val.samples[0].duration_s)
    result = APP.predict(rec, runner)
    doc = result.to_dict()
    assert doc["windows"]["n"] == 3 and doc["fault"] in APP.targets[0].classes
    assert {"fault", "probabilities", "defect_size_mm", "defect_size_interval_mm", "severity", "alarm"} <= set(doc)
