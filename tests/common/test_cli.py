"""The `edgeinv` CLI: generic over the registry, one JSON document with --json, one-line errors."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest

from edgeinv.common import app as registry
from edgeinv.common import cli
from edgeinv.common.app import App, Dataset, Target, TargetKind
from edgeinv.common.errors import InvalidInputError
from edgeinv.common.options import PredictOptions, option


@dataclass
class _Echo:
    value: float

    def to_dict(self):
        return {"value": self.value}

    def summary(self):
        return f"value = {self.value:.3f}"


@dataclass(frozen=True)
class _MiniOptions(PredictOptions):
    gain: float | None = option(low=0.0, low_exclusive=True, high=100.0, reader=True)


class _MiniApp(App):
    """A torch-free app reading one number per line, so the CLI can be tested without models."""

    name = "mini-app"
    options_type = _MiniOptions
    title = "Mini"
    targets = (Target("level_m", unit="m", low=0.0, high=10.0),
               Target("state", kind=TargetKind.CLASSIFICATION, classes=("low", "high")))

    def input_shape(self, config):
        return (4,)

    def simulate(self, n, *, rng, config="default"):
        x = rng.normal(size=(n, 4)).astype(np.float32)
        return Dataset(x=x, y={"level_m": x.sum(1), "state": (x.sum(1) > 0).astype(np.int64)})

    def read(self, source, *, filename=None, **meta):
        text = source.read_text() if hasattr(source, "read_text") else str(source)
        values = [float(v) for v in text.split()]
        if len(values) != 4:
            raise InvalidInputError(f"{filename}: expected 4 numbers, got {len(values)}")
        return np.array(values, dtype=np.float32) * meta.get("gain", 1.0)

    def predict_arguments(self, parser):
        parser.add_argument("--gain", type=float)
        parser.add_argument("--unrelated", type=float, help="a flag that is not an option never reaches read()")

    def preprocess(self, sample, *, config="default"):
        return sample

    def interpret(self, outputs, sample):
        return _Echo(float(outputs["level_m"]))

    def baseline(self, sample):
        return {"level_m": np.float32(sample.sum())}

    def build_model(self, config, size):  # pragma: no cover - not used here
        raise NotImplementedError

    def write_example(self, path, rng, **params):
        path.write_text(" ".join(str(v) for v in rng.normal(size=4)))
        return {"kind": "numbers"}


@pytest.fixture
def mini(monkeypatch):
    app = _MiniApp()
    monkeypatch.setattr(registry, "_registry", lambda: {app.name: lambda: app})
    monkeypatch.setattr(cli.CliContext, "runner",
                        lambda self, app, config, variant=None, models_dir=None, device=False:
                        (lambda x: {"level_m": x.sum(axis=1) * 2.0}))
    return app


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_human_and_json(mini, tmp_path, capsys):
    f = tmp_path / "s.txt"
    f.write_text("1 2 3 4")
    code, out, _ = run(capsys, "mini-app", "predict", str(f))
    assert code == 0 and out.strip() == "value = 20.000"
    code, out, _ = run(capsys, "mini-app", "predict", str(f), "--gain", "0.5", "--json")
    assert code == 0
    # exactly one JSON document; the option flag reached read(), with its source
    doc = json.loads(out)
    assert doc["value"] == 10.0 and doc["parameters"]["gain"] == {"value": 0.5, "source": "flag"}
    assert doc["parameters"]["model"] == {"value": {"config": "default", "variant": None}, "source": "device"}
    code, out, _ = run(capsys, "mini-app", "predict", str(f), "--unrelated", "3", "--json")
    assert code == 0 and json.loads(out)["value"] == 20.0 and json.loads(out)["parameters"]["gain"]["source"] == "default"
    code, _, err = run(capsys, "mini-app", "predict", str(f), "--gain", "-1")
    assert code == 2 and "gain must be > 0 and <= 100, got -1.0" in err


def test_bad_input_is_one_line_error_without_traceback(mini, tmp_path, capsys):
    f = tmp_path / "bad.txt"
    f.write_text("1 2")
    code, out, err = run(capsys, "mini-app", "predict", str(f))
    assert code == InvalidInputError.exit_code != 0
    assert err.strip().startswith("error: bad.txt: expected 4 numbers")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, out, err = run(capsys, "mini-app", "predict", str(tmp_path / "missing.txt"), "--json")
    assert code != 0 and json.loads(out)["error"] == "InvalidInputError"


def test_unexpected_failure_is_reported_not_raised(mini, tmp_path, capsys, monkeypatch):
    def boom(self, sample):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(_MiniApp, "baseline", boom)
    monkeypatch.setattr(_MiniApp, "preprocess", lambda self, s, config="default": boom(self, s))
    f = tmp_path / "s.txt"
    f.write_text("1 2 3 4")
    code, _, err = run(capsys, "mini-app", "predict", str(f))
    assert code == cli.EXIT_INTERNAL
    assert "kaboom" in err and "Traceback" not in err


def test_simulate_writes_files(mini, tmp_path, capsys):
    code, out, _ = run(capsys, "--json", "mini-app", "simulate", "--count", "3", "--out", str(tmp_path / "ex.txt"))
    assert code == 0
    written = json.loads(out)["written"]
    assert len(written) == 3 and all((tmp_path / p["path"]).exists() for p in written)


def test_unknown_app_and_bad_settings_exit_nonzero(mini, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exc:
        cli.main(["no-such-app", "predict", "x"])
    assert exc.value.code == 2  # argparse usage error
    code, _, err = run(capsys, "--threads", "0", "apps")
    assert code != 0 and "threads must be >= 1" in err


def test_quick_compress_never_targets_the_shipped_models(mini, capsys):
    code, _, err = run(capsys, "mini-app", "compress", "--quick")
    assert code == InvalidInputError.exit_code and "give --out DIR" in err


def test_unreadable_file_is_a_clear_error(mini, tmp_path, capsys, monkeypatch):
    f = tmp_path / "locked.txt"
    f.write_text("1 2 3 4")

    def denied(self, source, *, filename=None, **meta):
        raise PermissionError(13, "Permission denied", str(source))

    monkeypatch.setattr(_MiniApp, "read", denied)
    code, _, err = run(capsys, "mini-app", "predict", str(f))
    assert code == InvalidInputError.exit_code
    assert err.strip() == f"error: cannot access {f}: Permission denied"


def test_compress_into_the_shipped_folder_runs_the_apps_after_release_step(tmp_path, monkeypatch):
    """A rebuilt release is followed by the app's own follow-ups (e.g. refitting decision constants)."""
    import argparse

    import edgeinv.common.pipeline as pipeline
    from edgeinv.common.cli import CliContext, cmd_compress
    from edgeinv.common.config import load_settings

    from toyapp import VECTOR

    calls = []
    monkeypatch.setattr(pipeline, "build_release", lambda app, config, out, recipe=None: {"chosen": "x", "accurate": "y"})
    monkeypatch.setattr(type(VECTOR), "after_release",
                        lambda self, models_dir, runner_for, progress=True: calls.append(models_dir) or {"text": "done"},
                        raising=False)
    ctx = CliContext(settings=load_settings(env={}, models_dir=tmp_path, data_dir=tmp_path / "d"), json=True)
    args = argparse.Namespace(app_obj=VECTOR, quick=False, out=None, config="default", epochs=None, n_train=None, seed=None)
    rep = cmd_compress(args, ctx)
    assert calls == [tmp_path / VECTOR.package_name] and rep["after_release"] == {"text": "done"}
    args.out = str(tmp_path / "elsewhere")  # a build elsewhere does not touch the shipped app's follow-ups
    assert cmd_compress(args, ctx)["after_release"] is None and len(calls) == 1
