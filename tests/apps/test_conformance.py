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


# ---- one request path: the same file through CLI, JSON API and HTML upload gives the same numbers ----------

# per app: small example-file parameters and a new entity's settings that leave every parameter as the CLI's
ONE_PATH = {"bearing-wear": ({"fault": "outer_race", "size_mm": 1.5, "rpm": 1797, "fs": 12000, "duration": 2.0},
                             {"rpm": 1797}),
            "leaf-nitrogen": ({}, {"crop": "maize", "stage": "V6"}),
            "veg-cover": ({"camera": "multispectral5", "gsd_cm": 5.0, "size": 64}, {})}


def _numbers(doc):
    """A result's dict (or list of them) without the provenance's sources (flag vs form differ by design)."""
    if isinstance(doc, list):
        return [_numbers(d) for d in doc]
    out = {k: v for k, v in doc.items() if k not in ("parameters", "filename", "measured_at")}
    out["parameters"] = {k: p["value"] for k, p in (doc.get("parameters") or {}).items()}
    return out


@pytest.mark.parametrize("app", [a for a in APPS if a.name in ONE_PATH], ids=lambda a: a.name)
def test_cli_api_and_html_upload_give_the_same_numbers(app, settings, tmp_path, capsys):
    import io

    from edgeinv.common.cli import main
    from edgeinv.common.web import create_app

    if app.name == "veg-cover":
        pytest.importorskip("prosail")
    example, entity = ONE_PATH[app.name]
    path = tmp_path / f"example{app.example_suffix or ''}"
    app.write_example(path, np.random.default_rng(5), **example)
    data = path.read_bytes()

    code = main(["--data-dir", str(tmp_path / "cli"), "--json", app.name, "predict", str(path)])
    out = capsys.readouterr()
    assert code == 0, out.err
    cli_doc = json.loads(out.out)

    flask_app = create_app(settings, [app])
    flask_app.config.update(TESTING=True)
    client = flask_app.test_client()
    r = client.post(f"/{app.name}/api/entities", json={"name": "conformance", **entity})
    assert r.status_code == 201, r.get_json()
    eid = r.get_json()["id"]
    r = client.post(f"/{app.name}/api/entities/{eid}/uploads?filename={path.name}", data=data,
                    content_type="application/octet-stream")
    assert r.status_code == 201, r.get_json()
    api_summary = r.get_json()["summary"]
    r = client.post(f"/{app.name}/entities/{eid}/uploads", data={"file": (io.BytesIO(data), path.name)},
                    content_type="multipart/form-data")
    assert r.status_code == 302 and "/results/" in r.headers["Location"]
    rid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert client.get(f"/{app.name}/results/{rid}").status_code == 200  # the page renders that result
    html_summary = client.get(f"/{app.name}/api/results/{rid}").get_json()["summary"]

    def stored(summary):  # an upload's summary holds the CLI's result (a list of leaves: under "leaves")
        return summary["leaves"] if app.many_samples_per_file else summary

    for summary in (api_summary, html_summary):
        got = _numbers(stored(summary))
        want = _numbers(cli_doc)
        if isinstance(want, dict):
            diff = {k: (got.get(k), want[k]) for k in want if got.get(k) != want[k]}
            if "parameters" in diff:
                diff["parameters"] = {k: (got["parameters"].get(k), v) for k, v in want["parameters"].items()
                                      if got["parameters"].get(k) != v}
            assert not diff, diff
        else:
            assert got == want
    sources = {p["source"] for p in (stored(api_summary)[0] if app.many_samples_per_file else api_summary)
               ["parameters"].values()}
    assert sources <= {"form", "entity default", "file", "default", "device"}
