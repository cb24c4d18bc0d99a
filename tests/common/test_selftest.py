"""Same answers on every CPU: CPU classes, INT8 defaults, golden sets and the on-device self-test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from edgeinv.common.compress.quantize import ALL_CPU_CLASSES, QuantSettings, cpu_classes_for
from edgeinv.common.config import load_settings
from edgeinv.common.errors import ModelError
from edgeinv.common.runtime import cpu as cpu_mod
from edgeinv.common.runtime import selftest as st
from edgeinv.common.runtime.bundle import read_manifest, sha256_file, verify_release
from edgeinv.common.runtime.cpu import features_from
from edgeinv.common.runtime.manifest import update_manifest

from toyapp import VECTOR, build_toy_release



# ---- CPU classes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("machine,flags,cls", [
    ("x86_64", {"sse4_1", "avx2", "avx512f", "avx512_vnni"}, "x86-64-vnni"),
    ("x86_64", {"sse4_1", "avx2", "avx_vnni"}, "x86-64-vnni"),
    ("x86_64", {"sse4_1", "avx2", "avx512f", "avx512bw"}, "x86-64-avx512"),  # Skylake-SP: no VNNI
    ("x86_64", {"sse4_1", "avx2"}, "x86-64-avx2"),  # Zen 3, Haswell
    ("x86_64", {"sse4_1"}, "x86-64-sse"),
    ("aarch64", {"fp", "asimd", "asimddp"}, "arm64-dotprod"),  # Cortex-A76 (Raspberry Pi 5)
    ("aarch64", {"fp", "asimd"}, "arm64-neon"),  # Cortex-A72 (Raspberry Pi 4)
    ("riscv64", set(), "other"),
])
def test_cpu_class_from_flags(machine, flags, cls):
    f = features_from(machine, "test cpu", flags)
    assert f["cpu_class"] == cls
    assert f["vnni"] == (cls == "x86-64-vnni") and f["dotprod"] == (cls == "arm64-dotprod")


def test_cpuinfo_flags_are_narrowed_to_what_this_process_cpuid_reports(monkeypatch):
    """The kernel's flags say AVX-512 + VNNI, this process's CPUID (numpy's detection, what ONNX Runtime asks) does
    not: the class follows the process (scripts/as_cpu.py runs code so); flags numpy cannot check are kept."""
    import numpy._core._multiarray_umath as um

    monkeypatch.setitem(um.__cpu_features__, "AVX512F", False)
    monkeypatch.setitem(um.__cpu_features__, "AVX512VNNI", False)
    monkeypatch.setitem(um.__cpu_features__, "AVX2", True)
    kernel = {"sse4_2", "avx2", "avx512f", "avx512_vnni", "avx_vnni"}
    assert cpu_mod._cpuid_narrowed(kernel) == {"sse4_2", "avx2", "avx_vnni"}
    monkeypatch.setitem(um.__cpu_features__, "AVX2", False)
    narrowed = cpu_mod._cpuid_narrowed(kernel - {"avx_vnni"})
    assert narrowed == {"sse4_2"} and features_from("x86_64", "m", narrowed)["cpu_class"] == "x86-64-sse"


def test_this_cpu_is_classified():
    f = cpu_mod.cpu_features()
    assert f["cpu_class"] in cpu_mod.CPU_CLASSES and len(cpu_mod.fingerprint()) == 16


def test_int8_defaults_run_right_on_every_cpu_class():
    """7-bit weights by default: U8S8 kernels without VNNI cannot saturate their 16-bit pair sums."""
    q = QuantSettings()
    assert q.reduce_range and q.activations_uint8 and q.per_channel
    meta = {"kind": "static_qdq", "activation_type": "uint8", "weight_type": "int8", "reduce_range": True}
    assert cpu_classes_for(meta) == list(ALL_CPU_CLASSES)
    full = dict(meta, reduce_range=False)
    assert set(cpu_classes_for(full)) == {"x86-64-vnni", "arm64-dotprod", "arm64-neon"}
    assert cpu_classes_for(None) == list(ALL_CPU_CLASSES)  # FP32/FP16


# ---- a toy release with golden sets ----------------------------------------------------------------


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    pytest.importorskip("torch")
    return build_toy_release(tmp_path_factory.mktemp("models"), VECTOR, epochs=8, distill_epochs=8)


@pytest.fixture
def device(release, tmp_path):
    root = tmp_path / "models"
    shutil.copytree(release, root)
    return load_settings(env={}, models_dir=root, data_dir=tmp_path / "data")


def test_golden_set_ships_with_the_release_and_is_hashed(release):
    folder = release / VECTOR.package_name
    entry = read_manifest(folder)["configs"]["default"]
    golden = entry["golden"]
    assert golden["file"] in verify_release(folder)  # covered by the manifest's hashes
    with np.load(folder / golden["file"]) as data:
        assert data["x"].shape[1:] == VECTOR.input_shape("default") and len(data["x"]) == golden["n"] >= 8
        assert {"out__lin_g", "out__quad_g"} <= set(data.files)
    assert set(golden["reference_deviation"]) == set(entry["variants"])
    assert golden["reference_deviation"]["teacher_fp32"]["lin_g"] == pytest.approx(0.0, abs=1e-5)
    for v in entry["variants"].values():  # every variant says which CPU classes it is meant for
        assert v["cpu_classes"] == list(ALL_CPU_CLASSES)
    assert entry["variants"]["teacher_int8"]["quantization"]["reduce_range"] is True


def test_selftest_accepts_a_correct_release_and_stores_the_choice(device):
    report = st.run_selftest(VECTOR, device, repeats=3)
    c = report["configs"]["default"]
    assert report["ok"] and c["golden"] and c["chosen"] in c["variants"]
    for name, row in c["variants"].items():
        assert row["within_budget"], (name, row["reasons"])
        assert row["latency_ms"] > 0 and set(row["deviation"]) == {"lin_g", "quad_g"}
    # allowed = the budget in the target's unit (1 % of the range by default)
    assert c["variants"]["teacher_fp32"]["allowed"]["lin_g"] == pytest.approx(0.01 * VECTOR.target("lin_g").range)
    st.save_device_state(device, [report])
    choice = st.device_choice(VECTOR, device, "default")
    assert choice["chosen"] == c["chosen"] and choice["source"].startswith("self-test on this device")


def _corrupt_int8_scale(folder, variant="teacher_int8", factor=8.0):
    """A wrong INT8 build: one weight scale multiplied (hash updated, as if the build had produced it)."""
    import onnx
    from onnx import numpy_helper

    path = folder / "default" / f"{variant}.onnx"
    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in inits and inits[node.input[0]].data_type == onnx.TensorProto.INT8:
            scale = inits[node.input[1]]
            scale.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(scale) * factor, scale.name))
            break
    else:
        raise AssertionError("no weight DequantizeLinear found")
    onnx.save(model, str(path))

    def change(manifest):
        entry = manifest["configs"]["default"]
        entry["variants"][variant]["sha256"] = sha256_file(path)
        entry["chosen"] = variant  # the build machine chose it
        entry.setdefault("search", {}).setdefault("variants", {}).setdefault(variant, {})["within_budget"] = True

    update_manifest(folder, change)


def test_a_wrong_int8_variant_is_rejected_served_around_and_reported(device):
    from edgeinv.common.web.server import prepare_app

    folder = device.models_dir / VECTOR.package_name
    _corrupt_int8_scale(folder)
    report = st.run_selftest(VECTOR, device, repeats=2)
    c = report["configs"]["default"]
    bad = c["variants"]["teacher_int8"]
    assert not bad["within_budget"] and "deviates" in bad["reasons"][0] and "teacher_int8" in c["rejected"]
    assert c["chosen"] != "teacher_int8" and c["variants"][c["chosen"]]["within_budget"]

    flask_app = prepare_app(device, [VECTOR])  # what `serve` runs before listening
    ctx = flask_app.extensions["edgeinv"]
    runner = ctx.runner(VECTOR, "default")
    used = getattr(runner, "names", (getattr(runner, "variant", None),))
    assert "teacher_int8" not in used
    health = flask_app.test_client().get("/healthz").get_json()
    sel = health["apps"][VECTOR.name]["selftest"]
    # serving re-ran the self-test: its choice is timed again (may differ from the run above on a loaded
    # machine) but it is always a variant that passed, never the corrupted one
    served = sel["configs"]["default"]["chosen"]
    assert sel["ran"] and served != "teacher_int8" and served in used
    assert "default/teacher_int8" in sel["rejected"] and health["cpu"]["cpu_class"] in cpu_mod.CPU_CLASSES


def test_choice_survives_a_restart_and_is_per_device(device, monkeypatch):
    folder = device.models_dir / VECTOR.package_name
    _corrupt_int8_scale(folder)
    st.selftest_apps([VECTOR], device, repeats=2)
    state = json.loads(st.device_state_path(device).read_text())
    assert state["fingerprint"] == cpu_mod.fingerprint()
    chosen = state["apps"][VECTOR.name]["configs"]["default"]["chosen"]
    # a fresh process (a restart) reads the stored choice without re-running the self-test
    code = ("import sys; sys.path.insert(0, 'tests/common'); from toyapp import VECTOR; "
            "from edgeinv.common.config import load_settings; from edgeinv.common.runtime.selftest import device_choice; "
            f"s = load_settings(env={{}}, models_dir={str(device.models_dir)!r}, data_dir={str(device.data_dir)!r}); "
            "print(device_choice(VECTOR, s, 'default')['chosen'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == chosen != "teacher_int8"
    # another CPU (different fingerprint) does not inherit this device's choice: the manifest's applies
    other = dict(cpu_mod.cpu_features(), model="another cpu")
    monkeypatch.setattr(st, "fingerprint", lambda features=None: cpu_mod.fingerprint(other))
    choice = st.device_choice(VECTOR, device, "default")
    assert choice["source"].startswith("manifest") and choice["chosen"] == "teacher_int8"


def test_models_changed_since_the_selftest_invalidate_it(device):
    st.selftest_apps([VECTOR], device, repeats=2)
    assert st.device_report(VECTOR, device) is not None
    update_manifest(device.models_dir / VECTOR.package_name, lambda m: m.update(note="rebuilt"))
    assert st.device_report(VECTOR, device) is None


def test_no_usable_variant_is_a_model_error(device):
    report = st.run_selftest(VECTOR, device, repeats=1)
    report["configs"]["default"].update(chosen=None, accurate=None, ok=False)
    st.save_device_state(device, [report])
    with pytest.raises(ModelError, match="no shipped variant passed the self-test"):
        st.device_choice(VECTOR, device, "default")


def test_int8_not_meant_for_this_cpu_class_is_not_used_without_a_selftest(device, monkeypatch):
    folder = device.models_dir / VECTOR.package_name

    def change(manifest):
        entry = manifest["configs"]["default"]
        entry["chosen"] = "teacher_int8"
        entry["variants"]["teacher_int8"]["cpu_classes"] = ["x86-64-vnni"]

    update_manifest(folder, change)
    monkeypatch.setattr(st, "cpu_features", lambda: features_from("x86_64", "zen3", {"avx2"}))
    choice = st.device_choice(VECTOR, device, "default")
    assert choice["chosen"] == "teacher_fp32" and choice["source"].startswith("manifest")


def test_models_for_another_preprocessing_version_are_unusable(device):
    update_manifest(device.models_dir / VECTOR.package_name, lambda m: m.update(preprocessing_version="0"))
    report = st.run_selftest(VECTOR, device, repeats=1)
    c = report["configs"]["default"]
    assert not report["ok"] and c["chosen"] is None and "preprocessing v0" in c["error"]
    st.save_device_state(device, [report])
    with pytest.raises(ModelError, match="no shipped variant passed"):
        st.device_choice(VECTOR, device, "default")
