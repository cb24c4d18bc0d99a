"""Seeded malformed inputs through every app's readers and its CLI: refused clearly or read, never a crash.

CI runs 100 cases per format through the readers and a handful per format through ``edgeinv <app>
predict`` (in-process ``main``) and the upload API; ``make fuzz`` runs >= 1000 per format through the
readers, the CLI and the upload API and prints the table (``python -m edgeinv.common.fuzz``).
"""

from __future__ import annotations

import pytest

from edgeinv.common import fuzz
from edgeinv.common.app import all_apps

APPS = all_apps()
READER_CASES = 100  # per format
CLI_CASES = 6  # per format (the edge path runs the model on what reads)


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
    work = tmp_path / "in"
    work.mkdir()
    report = fuzz.run_entry_cases(APPS[name], fuzz.cases(APPS[name], seed_files[name], CLI_CASES, seed=2),
                                  via="cli", folder=work)
    assert not report["failures"], fuzz.format_table([report])  # exit 0, or 2/3/5 with one "error:" line
    assert sum(r["refused"] for r in report["formats"].values()) > 0
    assert list(work.iterdir()) == [], "predict wrote into its input's folder"


@pytest.mark.parametrize("name", sorted(APPS))
def test_upload_api_never_answers_5xx_on_malformed_files(name, seed_files, tmp_path):
    report = fuzz.run_entry_cases(APPS[name], fuzz.cases(APPS[name], seed_files[name], CLI_CASES, seed=3),
                                  via="api", folder=tmp_path)
    for fmt, row in report["formats"].items():
        assert row["cases"] == CLI_CASES and row["5xx"] == 0, fmt
    assert not report["failures"], fuzz.format_table([report])
    assert sum(r["refused"] for r in report["formats"].values()) > 0
