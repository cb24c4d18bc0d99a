"""One conformance suite run over every registered app (as scikit-learn's parametrize_with_checks).

It checks what the core relies on: simulated datasets match the declared targets and input shape,
the edge-side ``preprocess`` of a raw sample reproduces the training input exactly (no train/serve
skew), baselines and interpretation use the model's output layout and give JSON-able results,
example files written by ``write_example`` read back, and broken bytes give clear errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeinv.common.app import all_apps
from edgeinv.common.errors import EdgeinvError, InvalidInputError

APPS = list(all_apps().values())
CASES = [(a, c) for a in APPS for c in a.configs]


def _ids(case):
    app, config = case
    return f"{app.name}/{config}"


@pytest.fixture(scope="module", params=CASES, ids=[_ids(c) for c in CASES])
def simulated(request):
    app, config = request.param
    ds = app.simulate(3, rng=np.random.default_rng(7), config=config)
    return app, config, ds


def _fake_outputs(app, ds, i):
    out = {}
    for t in app.targets:
        y = np.asarray(ds.y[t.name][i])
        if t.is_classification:
            out[t.name] = np.eye(len(t.classes), dtype=np.float32)[int(y)]
        else:
            out[t.name] = y.astype(np.float32)
            if t.uncertainty:
                out[f"{t.name}_std"] = np.full_like(out[t.name], 0.05 * t.range)
    return out


def test_declared_targets(simulated):
    app, _, _ = simulated
    names = [t.name for t in app.targets]
    assert app.name and app.title and names and len(set(names)) == len(names)
    assert app.package_name.replace("_", "-") == app.name


def test_simulated_dataset_matches_contract(simulated):
    app, config, ds = simulated
    assert len(ds) == 3 and ds.samples is not None and len(ds.samples) == 3
    assert ds.x.dtype == np.float32 and np.all(np.isfinite(ds.x))
    shape = app.input_shape(config)
    per_pixel = any(t.per_pixel for t in app.targets)
    if per_pixel:
        assert ds.x.shape[1] == shape[0]  # channels fixed, spatial size may vary
    else:
        assert ds.x.shape[1:] == tuple(shape)
    assert set(ds.y) == {t.name for t in app.targets}
    for t in app.targets:
        y = np.asarray(ds.y[t.name])
        if t.is_classification:
            assert y.dtype.kind in "iu" and y.min() >= 0 and y.max() < len(t.classes)
        else:
            span = t.range
            assert np.all(y >= t.low - 1e-6 * span) and np.all(y <= t.high + 1e-6 * span), t.name
            if t.per_pixel:
                assert y.shape[1:] == ds.x.shape[2:]


def test_preprocess_reproduces_training_input(simulated):
    app, config, ds = simulated
    for i, sample in enumerate(ds.samples):
        x = app.preprocess(sample, config=config)
        assert x.dtype == np.float32
        np.testing.assert_allclose(x, ds.x[i], rtol=1e-5, atol=1e-5)


def test_baseline_and_interpret_speak_the_output_layout(simulated):
    app, config, ds = simulated
    sample = ds.samples[0]
    base = app.baseline(sample)
    assert base and set(base) <= set(app.output_names())
    for outputs in (_fake_outputs(app, ds, 0), {**_fake_outputs(app, ds, 0), **base}):
        result = app.interpret(outputs, sample)
        doc = json.loads(json.dumps(result.to_dict(), allow_nan=False))
        assert isinstance(doc, (dict, list)) and doc
        assert isinstance(result.summary(), str) and result.summary().strip()


def test_example_files_read_back(simulated, tmp_path):
    app, config, _ = simulated
    if not hasattr(app, "write_example"):
        pytest.skip(f"{app.name} writes no example files")
    suffix = getattr(app, "example_suffix", None) or ""
    path = tmp_path / f"example{suffix}"
    app.write_example(path, np.random.default_rng(3))
    samples = app.read_many(path, filename=path.name)
    assert samples
    x = app.preprocess(samples[0], config=app.config_for(samples[0]))
    assert np.all(np.isfinite(x))


@pytest.mark.parametrize("payload", [b"", b"\x00\x01garbage\xff" * 10, b"not,a,valid\nfile"])
def test_broken_bytes_give_clear_errors(simulated, payload):
    app, _, _ = simulated
    with pytest.raises(InvalidInputError):
        app.read(payload, filename="upload.bin")


def test_blueprint_is_flask_or_absent(simulated, settings):
    app, _, _ = simulated
    from flask import Blueprint

    from edgeinv.common.web import WebContext

    bp = app.blueprint(WebContext(settings))
    assert bp is None or isinstance(bp, Blueprint)
