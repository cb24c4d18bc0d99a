"""The generic training loop: convergence, determinism, early stopping, losses, normalisation, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgeinv.common.app import ModelSize  # noqa: E402
from edgeinv.common.errors import ConfigError, InvalidInputError, ModelError  # noqa: E402
from edgeinv.common.export import predict_physical  # noqa: E402
from edgeinv.common.metrics import score  # noqa: E402
from edgeinv.common.train import Schedule, build_seeded, canonical_outputs, fit, target_norm  # noqa: E402

from toyapp import IMAGE, SIGNAL, TINY, VECTOR, data, teacher, tiny_recipe  # noqa: E402


def test_teachers_learn_the_toy_tasks():
    for kind, app in (("signal", SIGNAL), ("vector", VECTOR), ("image", IMAGE)):
        _, _, test = data(kind)
        m = score(app, predict_physical(teacher(kind), app, test.x), test.y)
        if kind == "signal":
            assert m["fault"]["accuracy"] >= 0.95
            assert m["amp_mm"]["rmse"] <= 0.1 * SIGNAL.target("amp_mm").range
        elif kind == "vector":
            assert m["lin_g"]["r2"] >= 0.9 and m["quad_g"]["r2"] >= 0.7
        else:
            assert m["cover"]["rmse"] <= 0.1  # cover range is 0..1


def test_uncertainty_head_gives_positive_calibrated_std():
    _, _, test = data("signal")
    out = predict_physical(teacher("signal"), SIGNAL, test.x)
    assert np.all(out["amp_mm_std"] > 0)
    cov = score(SIGNAL, out, test.y)["amp_mm"]["coverage95"]
    assert 0.7 <= cov <= 1.0  # Gaussian NLL gives intervals of the right order, not a fixed guess


def test_same_seed_same_weights_and_different_seed_differs():
    train, val, _ = data("vector")
    recipe = tiny_recipe(epochs=3)
    a = fit(build_seeded(VECTOR, "default", ModelSize.TEACHER, seed=0), train, val, VECTOR, recipe=recipe, progress=False)
    b = fit(build_seeded(VECTOR, "default", ModelSize.TEACHER, seed=0), train, val, VECTOR, recipe=recipe, progress=False)
    c = fit(build_seeded(VECTOR, "default", ModelSize.TEACHER, seed=1), train, val, VECTOR,
            recipe=dataclasses.replace(recipe, seed=1), progress=False)
    for (ka, va), (_, vb), (_, vc) in zip(a.module.state_dict().items(), b.module.state_dict().items(),
                                          c.module.state_dict().items()):
        assert torch.equal(va, vb), ka
    assert any(not torch.equal(va, vc) for va, vc in zip(a.module.state_dict().values(), c.module.state_dict().values()))


def test_early_stopping_restores_the_best_epoch():
    tm = teacher("signal")
    losses = [h["val_loss"] for h in tm.history]
    assert tm.best_epoch == int(np.argmin(losses)) + 1
    assert tm.best_val_loss == pytest.approx(min(losses))
    vec = teacher("vector")
    assert vec.stopped_early  # the MLP plateaus: patience counts after the one-cycle warm-up
    warm = int(np.ceil(0.25 * TINY.epochs))
    assert len(vec.history) - max(vec.best_epoch, warm) == TINY.patience
    # the module holds the best weights: recomputing the validation loss gives the recorded best
    _, val, _ = data("signal")
    from edgeinv.common.train import _forward_all, _losses, _tensors, _weighted

    xva, yva = _tensors(val, SIGNAL, tm.norm)
    vl = _weighted(SIGNAL, _losses(_forward_all(tm.module, xva, SIGNAL), yva, SIGNAL, {}, beta=0.0)).item()
    assert vl == pytest.approx(tm.best_val_loss, rel=1e-4, abs=1e-5)


def test_target_norm_is_the_training_z_score_including_per_pixel():
    train, _, _ = data("image")
    norm = target_norm(IMAGE, train.y)
    assert norm["cover"]["mean"] == pytest.approx(float(np.mean(train.y["cover"])), rel=1e-6)
    assert norm["cover"]["std"] == pytest.approx(float(np.std(train.y["cover"])), rel=1e-6)
    assert "fault" not in target_norm(SIGNAL, data("signal")[0].y)  # classification is not normalised


def test_canonical_outputs_squeezes_and_checks():
    n = 4
    outs = canonical_outputs((torch.zeros(n, 3), torch.zeros(n, 1), torch.zeros(n)), SIGNAL, n)
    assert [tuple(o.shape) for o in outs] == [(n, 3), (n,), (n,)]
    assert tuple(canonical_outputs(torch.zeros(n, 1, 5, 6), IMAGE, n)[0].shape) == (n, 5, 6)
    with pytest.raises(ModelError, match="returns 2 outputs"):
        canonical_outputs((torch.zeros(n, 3), torch.zeros(n)), SIGNAL, n)
    with pytest.raises(ModelError, match=r"\(n, 3\)"):
        canonical_outputs((torch.zeros(n, 4), torch.zeros(n), torch.zeros(n)), SIGNAL, n)


def test_class_weights_and_distillation_run_through_fit():
    train, val, test = data("signal")
    recipe = tiny_recipe(epochs=2)
    model = build_seeded(SIGNAL, "default", ModelSize.STUDENT, seed=0)
    tm = fit(model, train, val, SIGNAL, recipe=recipe, progress=False, class_weights="balanced",
             teacher=teacher("signal"))
    assert tm.norm == teacher("signal").norm  # a student shares the teacher's normalisation
    with pytest.raises(ConfigError, match="needs 3 values"):
        fit(build_seeded(SIGNAL, "default", ModelSize.STUDENT, seed=0), train, val, SIGNAL, recipe=recipe,
            progress=False, class_weights={"fault": [1.0, 2.0]})


def test_bad_inputs_raise_edgeinv_errors():
    train, val, _ = data("vector")
    model = build_seeded(VECTOR, "default", ModelSize.STUDENT, seed=0)
    with pytest.raises(ConfigError, match="epochs"):
        fit(model, train, val, VECTOR, recipe=tiny_recipe(epochs=0), progress=False)
    bad = train.subset(np.arange(len(train)))
    bad.x[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        fit(model, bad, val, VECTOR, recipe=tiny_recipe(epochs=1), progress=False)
    with pytest.raises(ConfigError, match="schedule"):
        fit(model, train, val, VECTOR, recipe=tiny_recipe(epochs=1), progress=False, schedule="cosine")
    cos = fit(model, train, val, VECTOR, recipe=tiny_recipe(epochs=2), progress=False, schedule=Schedule.COSINE)
    assert len(cos.history) == 2


@pytest.mark.parametrize("epochs, batch", [(1, 10_000), (2, 10_000), (4, 10_000), (3, 8)])
def test_very_short_schedules_train(epochs, batch):
    """Few optimiser steps in all (one batch per epoch) must train, not crash inside the LR schedule."""
    train, val, _ = data("vector")
    recipe = tiny_recipe(epochs=epochs, batch_size=batch)
    tm = fit(build_seeded(VECTOR, "default", ModelSize.STUDENT, seed=0), train, val, VECTOR, recipe=recipe,
             progress=False)
    summary = tm.summary()
    assert summary["epochs_run"] == epochs and np.isfinite(summary["best_val_loss"])
