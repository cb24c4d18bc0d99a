"""Batch runs: ``edgeinv <app> batch DIR --scheduler local`` on a Dask LocalCluster equals the single-process path;
a failing file is reported and the rest continue; without Dask the command says how to get it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeinv.common.app import get_app
from edgeinv.common.config import load_settings
from edgeinv.common.errors import ConfigError, InvalidInputError, ModelError
from edgeinv.common.ingest.analyse import results_equal_view
from edgeinv.common.ingest.batch import expand, run_batch
from edgeinv.common.web.store import Store

REPO = Path(__file__).resolve().parents[2]
META = {"fs_hz": 12000.0, "rpm": 1800.0}


@pytest.fixture
def bearing_settings(tmp_path):
    from edgeinv.common.runtime.bundle import load_runner

    settings = load_settings(env={}, data_dir=tmp_path / "data", models_dir=os.environ.get("EDGEINV_MODELS_DIR"))
    try:
        load_runner(get_app("bearing-wear"), settings, config="default")
    except ModelError as exc:
        pytest.skip(f"the bearing-wear models do not load: {exc}")
    return settings


@pytest.fixture
def folder(tmp_path):
    app = get_app("bearing-wear")
    rng = np.random.default_rng(5)
    d = tmp_path / "recordings"
    d.mkdir()
    for i in range(6):
        app.write_example(d / f"r{i}{'.wav' if i % 2 else '.npy'}", rng, duration=1.5, rpm=1800.0, fs=12000.0)
    (d / "r3_broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really")
    (d / ".hidden").write_text("skipped")
    return d


def test_expand_folder_glob_and_nothing(folder):
    assert [p.name for p in expand(str(folder))] == ["r0.npy", "r1.wav", "r2.npy", "r3.wav", "r3_broken.wav",
                                                     "r4.npy", "r5.wav"]
    assert [p.name for p in expand(str(folder / "*.npy"))] == ["r0.npy", "r2.npy", "r4.npy"]
    with pytest.raises(InvalidInputError, match="no files"):
        expand(str(folder / "*.nothing"))


def test_single_process_batch_reports_the_failing_file_and_stores_the_rest(folder, bearing_settings):
    app = get_app("bearing-wear")
    report = run_batch(app, bearing_settings, str(folder), meta=META, entity_name="line 3", progress=False)
    assert report["n"] == 7 and report["ok"] == 6
    (failed,) = report["failed"]
    assert failed["path"].endswith("r3_broken.wav") and failed["reason"]
    store = Store(bearing_settings.db_path)
    (machine,) = store.list_entities("bearing-wear", "machine")
    stored = store.list_results("bearing-wear", machine["id"])
    store.close()
    assert machine["name"] == "line 3" and len(stored) == 6
    assert [r["summary"]["filename"] for r in stored] == ["r0.npy", "r1.wav", "r2.npy", "r3.wav", "r4.npy", "r5.wav"]


def test_dask_local_cluster_batch_equals_single_process(folder, bearing_settings, tmp_path):
    pytest.importorskip("dask.distributed", reason="Dask is the optional 'scale' extra")
    app = get_app("bearing-wear")
    single = run_batch(app, bearing_settings, str(folder), meta=META, store=False, progress=False)
    data_dir = tmp_path / "dask-data"
    cmd = [sys.executable, "-m", "edgeinv.common.cli", "--data-dir", str(data_dir), "--models-dir",
           str(bearing_settings.models_dir), "bearing-wear", "batch", str(folder), "--scheduler", "local",
           "--workers", "2", "--fs", "12000", "--rpm", "1800", "--entity", "line 3", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, cwd=REPO,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert report["scheduler"] == "local" and report["workers"] == 2 and report["n"] == 7 and report["ok"] == 6
    assert [f["path"] for f in report["failed"]] == [str(folder / "r3_broken.wav")]
    assert "failed: " in proc.stderr and "7/7" in proc.stderr  # the progress bar and the failure, on stderr
    ours = {r["path"]: r for r in report["results"]}
    for row in single["results"]:
        other = ours[row["path"]]
        assert other["ok"] == row["ok"]
        if row["ok"]:  # same model, same preprocessing, one thread: identical numbers
            expected = {k: v for k, v in results_equal_view(row["summary"]).items() if k != "envelope"}
            assert results_equal_view(other["summary"]) == json.loads(json.dumps(expected))
    store = Store(load_settings(env={}, data_dir=data_dir).db_path)
    assert len(store.list_results("bearing-wear")) == 6
    store.close()


def test_scheduler_without_dask_is_a_clear_error(folder, bearing_settings, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ConfigError, match=r"edgeinv\[scale\]"):
        run_batch(get_app("bearing-wear"), bearing_settings, str(folder), meta=META, store=False,
                  progress=False, scheduler="local")
    with pytest.raises(InvalidInputError, match="no files"):
        run_batch(get_app("bearing-wear"), bearing_settings, str(folder / "none-*"), store=False, progress=False)
