"""Issue 13 (speed of the bearing-wear edge path): what the speed work must keep true, without timing anything.

The stage split of ``edgeinv <app> bench`` for an app whose ``predict`` does more than preprocess -> model ->
interpret (bearing-wear refines the speed, analyses every window, runs the OOD checks and the severity read-out):
its own ``predict`` is timed around the model calls. Checked with a fake clock (no wall-clock thresholds).
"""

from __future__ import annotations

import numpy as np

from edgeinv.apps.bearing_wear import orders
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.common.runtime import bench


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class _App:
    """predict: 3 s of preparation, the model twice (1 s each, 0.5 s between), 2 s after the last model call."""

    stages_from_predict = True

    def __init__(self, clock):
        self.clock = clock

    def predict(self, sample, runner):
        self.clock.now += 3.0
        runner(None)
        self.clock.now += 0.5
        runner(None)
        self.clock.now += 2.0
        return {}


def _fake_bench(monkeypatch) -> _Clock:
    """The bench's clock replaced by a fake one; its model runner takes 1 s of that clock per call."""
    clock = _Clock()

    def make_runner(spec, app, config):
        def run(x):
            clock.now += 1.0
            return {}
        return run

    monkeypatch.setattr(bench.time, "perf_counter", clock)
    monkeypatch.setattr(bench, "_make_runner", make_runner)
    return clock


def test_stages_come_from_the_apps_own_predict(monkeypatch):
    clock = _fake_bench(monkeypatch)
    st = bench.run_stages({"name": "v"}, _App(clock), "default", [object()], repeats=3, example_file=None)
    assert st["median_ms"] == {"preprocess": 3500.0, "model": 2000.0, "interpret": 2000.0}
    assert abs(sum(st["shares"].values()) - 1.0) < 1e-12


def test_with_an_example_file_the_stages_are_those_of_that_file(monkeypatch):
    clock = _fake_bench(monkeypatch)
    seen = []

    class FileApp(_App):
        def read_many(self, path, *, filename=None):
            clock.now += 4.0
            return [("read", path)]

        def predict(self, sample, runner):
            seen.append(sample)
            return super().predict(sample, runner)

    st = bench.run_stages({"name": "v"}, FileApp(clock), "default", [object()], repeats=2, example_file="/x/rec.csv")
    assert seen and all(s == ("read", "/x/rec.csv") for s in seen)
    assert st["median_ms"] == {"read": 4000.0, "preprocess": 3500.0, "model": 2000.0, "interpret": 2000.0}


def test_bearing_wear_is_timed_through_its_predict():
    assert APP.stages_from_predict is True


def test_median_and_batched_background_equal_numpy_and_one_row_at_a_time():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 64, 819):
        a = rng.random(n)
        assert orders.median(a) == float(np.median(a))
    rows = rng.random((2, 819)) ** 4
    both = orders.local_background_normalise(rows, block_bins=64)
    for r, b in zip(rows, both):
        assert np.array_equal(orders.local_background_normalise(r, block_bins=64), b)


def test_hann_values_equal_numpy_hanning_within_rounding():
    for n in (*range(0, 40), 511, 512, 513, 1023, 1024, 12821, 65536, 153600, 109227):
        got, ref = orders.hann_values(n), np.hanning(n)
        assert got.shape == ref.shape and np.max(np.abs(got - ref), initial=0.0) <= 4e-16, n
        assert np.array_equal(got, got[::-1]), n  # symmetric, like np.hanning
        assert np.array_equal(orders.hann_values(n, exact=True), ref), n


def test_interleaved_timing_rotates_which_variant_sees_a_sample_first(monkeypatch):
    """A sample's first edge call is dearer (tables kept per input): every variant must pay for it equally often."""
    clock = _fake_bench(monkeypatch)
    seen: set = set()

    class App:
        def latency_input(self, x):
            return x

        def predict(self, sample, runner):
            clock.now += 10.0 if sample not in seen else 1.0  # a first call costs 10 s, later ones 1 s
            seen.add(sample)
            runner(None)
            return {}

    specs = [{"name": f"v{i}", "kind": "onnx"} for i in range(3)]
    t = bench.run_timing(specs, App(), "default", list(range(100, 106)), np.zeros((1, 2)), warmup=0, repeats=6)
    medians = {k: v["p50"] for k, v in t["path"].items()}
    assert len(set(medians.values())) == 1, medians  # the same p50 for every variant


def test_background_normalise_skips_the_floor_only_where_it_cannot_bind():
    """The order spectra's normalisation: the same quotients as with the floor (a thousandth of the row's median)
    always applied, whether the floor binds (a deep notch in one row) or not."""
    rng = np.random.default_rng(5)
    rows = rng.random((2, 819)) ** 4 + 0.05
    notched = rows.copy()
    notched[1, 300:500] = 1e-9  # the background there falls below the floor
    for r in (rows, notched, rows[0]):
        r2 = np.atleast_2d(r)
        floor = orders.row_medians(r2[:, 8:]) * 1e-3 + 1e-30
        want = r2 / np.maximum(orders.block_backgrounds(r2, 64), floor[:, None])
        want[:, :2] = 0.0
        assert np.array_equal(np.atleast_2d(orders.local_background_normalise(r, block_bins=64)), want)
    bg = orders.block_backgrounds(np.atleast_2d(notched), 64)
    assert (bg[1] < orders.row_medians(notched[:, 8:])[1] * 1e-3).any()  # the floor does bind in this case
