"""Seeded malformed inputs through every app's readers and its CLI: refused clearly or read, never a crash.

CI runs a few hundred cases per format through the readers and a handful per format through
``edgeinv <app> predict`` (in-process ``main``); ``make fuzz`` runs >= 1000 per format through the
readers and prints the table (``python -m edgeinv.common.fuzz``).
"""

from __future__ import annotations

import contextlib
import io

import pytest

from edgeinv.common import fuzz
from edgeinv.common.app import all_apps
from edgeinv.common.cli import main

APPS = all_apps()
READER_CASES = 100  # per format
CLI_CASES = 6  # per format (the edge path runs the model on what reads)
CLI_FLAGS = {"fs_hz": "--fs", "rpm": "--rpm"}


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds")
    return {name: fuzz.seeds(app, folder, seed=0) for name, app in APPS.items()}


@pytest.mark.parametrize("name", sorted(APPS))
def test_readers_refuse_or_read_every_malformed_file(name, seed_files):
    app = APPS[name]
    files = seed_files[name]
    assert set(files) == set(fuzz.SEED_SUFFIXES[name]), "every format the app reads has a valid seed"
    report = fuzz.run_reader_cases(app, fuzz.cases(app, files, READER_CASES, seed=1), time_limit_s=10.0)
    for fmt, row in report["formats"].items():
        assert row["cases"] == READER_CASES
        assert row["refused"] > 0, (fmt, "the mutations must break something")
    assert not report["failures"], fuzz.format_table([report])


@pytest.mark.parametrize("name", sorted(APPS))
def test_cli_predict_never_fails_internally_on_malformed_files(name, seed_files, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEINV_DATA_DIR", str(tmp_path / "data"))
    app = APPS[name]
    seen, written = set(), {"data"}
    for case in fuzz.cases(app, seed_files[name], CLI_CASES, seed=2):
        path = tmp_path / case.filename
        path.write_bytes(case.data)
        written.add(path.name)
        flags = [f for k, v in case.meta.items() if k in CLI_FLAGS for f in (CLI_FLAGS[k], str(v))]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([name, "predict", str(path), *flags, "--json"])
        assert rc in (0, 2, 3, 5), (case.filename, rc, err.getvalue()[-500:])
        if rc:
            assert err.getvalue().startswith("error: ") and "Traceback" not in err.getvalue(), case.filename
        seen.add(rc)
        assert {p.name for p in tmp_path.iterdir()} <= written, "predict wrote into its input's folder"
    assert 2 in seen  # malformed files were refused as bad input
