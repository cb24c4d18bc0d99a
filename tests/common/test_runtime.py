"""Edge runtime: ORT session wrapper, release verification, runner loading, model switching, bench."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from edgeinv.common.config import load_settings
from edgeinv.common.errors import InvalidInputError, ModelError, ModelIntegrityError, NotFoundError
from edgeinv.common.runtime.bundle import load_runner, read_manifest, verify_release
from edgeinv.common.runtime.session import OnnxModel, load_model
from edgeinv.common.runtime.switch import ModelSwitcher

from toyapp import SIGNAL, VECTOR, build_toy_release



@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A real toy-vector release built by the pipeline (teacher + quantized + pruned + student)."""
    pytest.importorskip("torch")
    return build_toy_release(tmp_path_factory.mktemp("models"), VECTOR, epochs=8, distill_epochs=8)


@pytest.fixture
def copy_of(release, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(release, root)
    return root


def _settings(root, tmp_path):
    return load_settings(env={}, models_dir=root, data_dir=tmp_path / "data")


def test_onnx_model_defaults_and_validation(release):
    path = release / VECTOR.package_name / "default" / "teacher_fp32.onnx"
    m = OnnxModel(path)
    assert m.threads == 1 and m.session.get_session_options().intra_op_num_threads == 1
    assert m.output_names == VECTOR.output_names() and m.variant == "teacher_fp32"
    assert m.metadata["targets"][0]["unit"] == "g"
    out = m(np.zeros((3, 12), np.float32))
    assert set(out) == {"lin_g", "quad_g"} and out["lin_g"].shape == (3,)
    with pytest.raises(InvalidInputError, match="2 axes"):
        m(np.zeros(12, np.float32))
    with pytest.raises(InvalidInputError, match="axis 1 must have size 12"):
        m(np.zeros((1, 11), np.float32))
    with pytest.raises(InvalidInputError, match="NaN"):
        m(np.full((1, 12), np.nan, np.float32))
    with pytest.raises(ModelError, match="not found"):
        OnnxModel(path.with_name("missing.onnx"))
    with pytest.raises(ModelError, match="not available"):
        OnnxModel(path, providers=("NoSuchExecutionProvider",))


def test_prepare_plans_a_session_for_one_shape_and_keeps_the_general_one(release):
    """OnnxModel.prepare: calls of the prepared shape run on a session with the free dimensions fixed (the same
    outputs to float rounding); any other shape still runs on the general session; impossible shapes are refused."""
    path = release / VECTOR.package_name / "default" / "teacher_fp32.onnx"
    m = OnnxModel(path)
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    want = m(x)
    assert m.prepare((5, 12)) is True and m.prepare([5, 12]) is True and list(m._fixed) == [(5, 12)]
    general = m.session

    class Refuse:
        def run(self, *a, **k):
            raise RuntimeError("general session used")

    m.session = Refuse()  # the prepared shape must not reach the general session
    got = m(x)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidInputError, match="rejected input"):
        m(x[:3])  # another shape: the general session (refusing here)
    m.session = general
    assert m(x[:3])["lin_g"].shape == (3,)
    with pytest.raises(InvalidInputError, match="cannot prepare"):
        m.prepare((5, 11))
    with pytest.raises(InvalidInputError, match="cannot prepare"):
        m.prepare((5,))
    from edgeinv.common.runtime.session import MAX_PREPARED

    for n in range(1, MAX_PREPARED + 2):  # a caller's shapes cannot grow the planned sessions beyond MAX_PREPARED
        assert m.prepare((n, 12)) is True
    assert list(m._fixed) == [(n, 12) for n in range(2, MAX_PREPARED + 2)]  # the last ones prepared
    m._source = b"not an onnx graph"  # ONNX Runtime cannot build the planned session: the general one serves
    assert m.prepare((7, 12)) is False and (7, 12) not in m._fixed and m(x[:3])["lin_g"].shape == (3,)


def test_corrupt_model_file_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelError, match="cannot load"):
        OnnxModel(bad)


def test_load_model_is_cached_per_file_and_threads(copy_of):
    path = copy_of / VECTOR.package_name / "default" / "student_fp32.onnx"
    a = load_model(path)
    assert load_model(path) is a and load_model(path, threads=2) is not a
    path.write_bytes(path.read_bytes())  # rewritten file (new mtime) -> a new session
    import os

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert load_model(path) is not a


def test_manifest_lists_every_shipped_file_and_verifies(release):
    folder = release / VECTOR.package_name
    manifest = read_manifest(folder)
    checked = verify_release(folder)
    entry = manifest["configs"]["default"]
    listed = {v["file"] for v in entry["variants"].values()} | {"default/teacher.pt", entry["golden"]["file"]}
    assert set(checked) == listed
    on_disk = {str(p.relative_to(folder)) for p in (folder / "default").iterdir()}
    assert on_disk == listed  # only what the manifest lists is shipped


def test_tampered_file_fails_verification_and_loading(copy_of, tmp_path):
    folder = copy_of / VECTOR.package_name
    entry = read_manifest(folder)["configs"]["default"]
    target = folder / entry["variants"][entry["chosen"]]["file"]
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match="does not match"):
        verify_release(folder)
    with pytest.raises(ModelIntegrityError):
        load_runner(VECTOR, _settings(copy_of, tmp_path))


def test_missing_or_broken_manifest(copy_of, tmp_path):
    folder = copy_of / VECTOR.package_name
    (folder / "default" / "teacher_fp16.onnx").unlink(missing_ok=True)
    if "teacher_fp16" in read_manifest(folder)["configs"]["default"]["variants"]:
        with pytest.raises(ModelIntegrityError, match="missing"):
            verify_release(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["configs"]["default"]["variants"]["teacher_fp32"]["file"] = "../../etc/passwd"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelIntegrityError, match="outside"):
        verify_release(folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ModelIntegrityError, match="not valid JSON"):
        read_manifest(folder)
    with pytest.raises(ModelError, match="make models"):
        load_runner(SIGNAL, _settings(copy_of, tmp_path))  # no models for this app at all


def test_load_runner_chosen_named_and_unknown_variants(release, tmp_path):
    settings = _settings(release, tmp_path)
    entry = read_manifest(release / VECTOR.package_name)["configs"]["default"]
    runner = load_runner(VECTOR, settings)
    assert runner.variant == entry["chosen"]
    assert load_runner(VECTOR, settings, variant="teacher_fp32").variant == "teacher_fp32"
    with pytest.raises(NotFoundError, match="no variant 'nope'"):
        load_runner(VECTOR, settings, variant="nope")
    result = VECTOR.predict(VECTOR.simulate(1, rng=np.random.default_rng(0)).samples[0], runner)
    assert set(result.to_dict()) == {"lin_g", "quad_g"}


def test_preprocessing_version_mismatch_is_refused(copy_of, tmp_path):
    folder = copy_of / VECTOR.package_name
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["preprocessing_version"] = "999"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="preprocessing v999"):
        load_runner(VECTOR, _settings(copy_of, tmp_path))


# ---- switcher ------------------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def _runner(clock, cost_ms, tag):
    def run(x):
        clock.t += cost["ms"] / 1e3
        return {"y": np.full(len(x), tag, np.float32)}

    cost = {"ms": cost_ms}
    run.cost = cost
    return run


def test_switcher_falls_back_under_latency_and_recovers():
    clock = FakeClock()
    acc, light = _runner(clock, 5.0, 1.0), _runner(clock, 1.0, 2.0)
    sw = ModelSwitcher(acc, light, latency_budget_ms=10.0, alpha=0.5, probe_every=4, clock=clock)
    x = np.zeros((1, 3), np.float32)
    assert sw(x)["y"][0] == 1.0 and sw.last_variant == "accurate"
    acc.cost["ms"] = 40.0  # the device gets busy: the accurate model now takes 40 ms
    sw(x)
    assert sw.ewma_ms["accurate"] == pytest.approx(22.5)  # 0.5 * 5 + 0.5 * 40
    used = [sw(x)["y"][0] for _ in range(3)]
    assert used == [2.0, 2.0, 2.0] and sw.last_variant == "light"
    acc.cost["ms"] = 2.0  # idle again: the periodic probe re-measures the accurate model
    used = [sw(x)["y"][0] for _ in range(4)]
    assert 1.0 in used and sw.stats()["reasons"]["probe"] >= 1
    while sw.ewma_ms["accurate"] > 10.0:
        sw(x)
    assert sw(x)["y"][0] == 1.0


def test_switcher_uses_light_model_when_the_queue_is_full():
    gate, started = threading.Event(), threading.Semaphore(0)

    def slow(x):
        started.release()
        gate.wait(10)
        return {"y": np.ones(len(x), np.float32)}

    sw = ModelSwitcher(slow, lambda x: {"y": np.full(len(x), 2.0, np.float32)}, latency_budget_ms=1e6, max_queue=2)
    x = np.zeros((1, 3), np.float32)
    threads = [threading.Thread(target=sw, args=(x,)) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in threads:
        assert started.acquire(timeout=10)
    assert sw(x)["y"][0] == 2.0 and sw.current_variant == "light"  # third concurrent call
    gate.set()
    for t in threads:
        t.join(10)
    assert sw.stats()["in_flight"] == 0 and sw.stats()["reasons"]["queue"] == 1


def test_switcher_validates_its_settings():
    from edgeinv.common.errors import ConfigError

    with pytest.raises(ConfigError, match="latency_budget_ms"):
        ModelSwitcher(len, len, latency_budget_ms=0)
    with pytest.raises(ConfigError, match="max_queue"):
        ModelSwitcher(len, len, latency_budget_ms=1, max_queue=0)


# ---- edge side without torch, and the bench -------------------------------------------------------

def test_runtime_runs_with_torch_and_onnx_unimportable(release, tmp_path):
    """An edge-only install has onnxruntime but neither torch nor the onnx package."""
    path = release / VECTOR.package_name / "default" / "teacher_fp32.onnx"
    code = f"""
import sys
sys.modules['torch'] = None  # any 'import torch' now raises ImportError
sys.modules['onnx'] = None
sys.path.insert(0, {str(Path(__file__).parent)!r})
import numpy as np
from edgeinv.common.runtime import session, bundle, switch, bench
from edgeinv.common.config import load_settings
from toyapp import VECTOR
m = session.load_model({str(path)!r})
sw = switch.ModelSwitcher(m, m, latency_budget_ms=50)
out = sw(np.zeros((2, 12), np.float32))
settings = load_settings(env={{}}, models_dir={str(release)!r}, data_dir={str(tmp_path)!r})
rep = bench.bench_app(VECTOR, settings, config='default', n=8, repeats=3, warmup=1, isolate=False,
                      include_torch=False, include_baseline=False)
print(sorted(out), rep['rows'][0]['flops'] > 0, 'torch' in sys.modules and sys.modules['torch'] is not None)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['lin_g', 'quad_g'] True False"


def test_bench_reports_every_row(release, tmp_path):
    from edgeinv.common.runtime.bench import bench_app, format_table

    settings = _settings(release, tmp_path)
    rep = bench_app(VECTOR, settings, config="default", n=20, repeats=10, warmup=2, batch_size=8, isolate=False)
    names = [r["name"] for r in rep["rows"]]
    entry = read_manifest(release / VECTOR.package_name)["configs"]["default"]
    assert names[: len(entry["variants"])] == list(entry["variants"])
    assert names[-1] == "baseline"
    for r in rep["rows"]:
        lat = r["latency_ms"]
        assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"] and lat["n"] == 10
        assert r["throughput_sps"] > 0 and r["peak_rss_mb"] > 0
        if r["kind"] == "onnx":
            assert r["params"] > 0 and r["flops"] > 0 and r["size_bytes"] > 0
            assert set(r["metrics"]) == {"lin_g", "quad_g"}
    assert set(rep["rows"][-1]["metrics"]) == {"lin_g"}  # the baseline estimates one target
    for r in rep["rows"]:  # interleaved model-only and whole-path latency, ratios from the same run
        if r["kind"] == "baseline":
            assert "model_latency_ms" not in r
            continue
        m, p = r["model_latency_ms"], r["path_latency_ms"]
        assert 0 < m["p50"] <= m["p99"] and 0 < p["p50"] <= p["p99"]
        assert r["speedup_vs_fp32"]["model"] > 0 and r["speedup_vs_torch"]["path"] > 0
    fp32 = next(r for r in rep["rows"] if r["name"] == "teacher_fp32")
    assert fp32["speedup_vs_fp32"] == {"model": 1.0, "path": 1.0}
    stages = rep["stages"]
    assert stages["variant"] == entry["chosen"] and set(stages["median_ms"]) >= {"preprocess", "model", "interpret"}
    assert sum(stages["shares"].values()) == pytest.approx(1.0)
    table = format_table(rep)
    assert "teacher_fp32" in table and "baseline" in table and "lin_g rmse" in table
    assert "model p50" in table and "x torch" in table and "where the time goes" in table


def test_bench_isolated_row_measures_a_fresh_process(release, tmp_path):
    from edgeinv.common.runtime.bench import bench_app

    rep = bench_app(VECTOR, _settings(release, tmp_path), config="default", n=10, repeats=5, warmup=1,
                    variants=["teacher_fp32"], include_torch=False, include_baseline=False)
    (row,) = rep["rows"]
    assert "error" not in row, row
    assert row["torch_loaded"] is False  # the ONNX edge path never imports torch
    assert 0 < row["rss_before_model_mb"] <= row["peak_rss_mb"]
    with pytest.raises(ModelError, match="no shipped variant"):
        bench_app(VECTOR, _settings(release, tmp_path), config="default", variants=["nope"])


def test_signed_release_and_encrypted_model(copy_of):
    pytest.importorskip("cryptography")
    from edgeinv.common.runtime.bundle import (decrypt_file, encrypt_file, generate_signing_key, sign_release,
                                               verify_signature)

    folder = copy_of / VECTOR.package_name
    private, public = generate_signing_key()
    sign_release(folder, private)
    assert set(verify_signature(folder, public)) == set(verify_release(folder))
    _, other = generate_signing_key()
    with pytest.raises(ModelIntegrityError, match="does not verify"):
        verify_signature(folder, other)
    manifest = (folder / "manifest.json").read_text()
    (folder / "manifest.json").write_text(manifest.replace('"seed": 0', '"seed": 1', 1))
    with pytest.raises(ModelIntegrityError, match="does not verify"):
        verify_signature(folder, public)  # an edited manifest breaks the signature

    plain = folder / "default" / "teacher_fp32.onnx"
    key = bytes(range(32))
    enc = encrypt_file(plain, key)
    assert decrypt_file(enc, key) == plain.read_bytes() and enc.read_bytes().find(b"lin_g") == -1
    x = np.zeros((2, 12), np.float32)
    np.testing.assert_array_equal(OnnxModel(enc, key=key)(x)["lin_g"], OnnxModel(plain)(x)["lin_g"])
    with pytest.raises(ModelIntegrityError, match="wrong device key"):
        OnnxModel(enc, key=bytes(32))
    with pytest.raises(ModelError, match="device key is needed"):
        OnnxModel(enc)
