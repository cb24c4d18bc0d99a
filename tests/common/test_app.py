"""The App contract's value types: Target validation, Dataset bookkeeping, Budget, registry."""

import numpy as np
import pytest

from edgeinv.common.app import Budget, Dataset, Target, TargetKind, get_app
from edgeinv.common.errors import ConfigError, NotFoundError


def test_target_validation():
    with pytest.raises(ConfigError, match="needs >= 2 classes"):
        Target("fault", kind=TargetKind.CLASSIFICATION, classes=("a",))
    with pytest.raises(ConfigError, match="high must exceed low"):
        Target("x", low=1.0, high=1.0)
    with pytest.raises(ConfigError, match="regression targets only"):
        Target("c", kind=TargetKind.CLASSIFICATION, classes=("a", "b"), uncertainty=True)
    assert Target("size_mm", unit="mm", low=0, high=4).range == 4.0


def test_dataset_subset_and_concat(rng):
    ds = Dataset(x=rng.normal(size=(5, 3)).astype(np.float32), y={"t": np.arange(5.0)},
                 samples=list("abcde"), meta={"snr_db": np.arange(5)})
    sub = ds.subset([4, 0])
    assert sub.samples == ["e", "a"] and list(sub.y["t"]) == [4.0, 0.0] and list(sub.meta["snr_db"]) == [4, 0]
    both = Dataset.concat([ds, sub])
    assert len(both) == 7 and both.samples[-1] == "a"
    with pytest.raises(ValueError, match="has 2 rows"):
        Dataset(x=np.zeros((3, 1)), y={"t": np.zeros(2)})


def test_budget_allowed_per_kind():
    b = Budget(regression_frac_range=0.02, classification_points=0.5, per_target={"special": 0.1})
    assert b.allowed(Target("r")) == 0.02
    assert b.allowed(Target("c", kind=TargetKind.CLASSIFICATION, classes=("a", "b"))) == 0.5
    assert b.allowed(Target("special")) == 0.1


def test_unknown_app():
    with pytest.raises(NotFoundError, match="unknown app 'nope'"):
        get_app("nope")


def test_latency_input_is_one_sample_or_a_device_sized_tile(rng):
    from toyapp import IMAGE, VECTOR

    x = rng.normal(size=(5, 3, 32, 20)).astype(np.float32)
    tile = IMAGE.latency_input(x)
    assert tile.shape == (1, 3, IMAGE.latency_tile_px, IMAGE.latency_tile_px)
    np.testing.assert_array_equal(tile[0, :, 32:64, 20:40], x[0])  # the sample, repeated
    v = rng.normal(size=(5, 7)).astype(np.float32)
    np.testing.assert_array_equal(VECTOR.latency_input(v), v[:1])
