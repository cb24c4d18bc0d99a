"""`edgeinv <app> baseline FILE`: one command for every app, through the same analysis call as `predict`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeinv.common import cli
from edgeinv.common.app import all_apps


@pytest.mark.parametrize("name", sorted(all_apps()))
def test_every_app_has_the_baseline_command_and_it_runs_no_model(name, tmp_path, capsys, monkeypatch):
    app = all_apps()[name]
    path = tmp_path / f"example{app.example_suffix}"
    app.write_example(path, np.random.default_rng(3))

    def no_model(*args, **kwargs):
        raise AssertionError("the baseline command must not load a model")

    monkeypatch.setattr(cli.CliContext, "runner", no_model)
    code = cli.main([name, "baseline", str(path), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    doc = json.loads(out)
    docs = doc if isinstance(doc, list) else [doc]
    assert docs and all(d["parameters"]["model"]["value"].startswith("none: the classical baseline") for d in docs)
    # the same numbers as calling the app's classical method directly on what its reader returns
    sample = app.read_many(path, filename=path.name)[0]
    direct = app.predict_baseline(sample).to_dict()
    keys = [k for k, v in direct.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    assert keys, direct
    for k in keys:
        assert docs[0][k] == pytest.approx(direct[k], rel=1e-6, abs=1e-9), k
    assert path.parent.samefile(tmp_path) and sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # nothing written


def test_baseline_of_a_missing_file_is_a_clear_error(capsys):
    name = sorted(all_apps())[0]
    code = cli.main([name, "baseline", "/nonexistent/file.csv"])
    _, err = capsys.readouterr()
    assert code != 0 and "no such file" in err and "Traceback" not in err
