"""build_release end to end on a toy app: variants, manifest, held-out metrics, baseline, search."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from edgeinv.common.compress.search import SearchSettings  # noqa: E402
from edgeinv.common.metrics import predict_batched, score  # noqa: E402
from edgeinv.common.pipeline import HELDOUT_SEED_OFFSET, build_release, train_teacher  # noqa: E402
from edgeinv.common.runtime.bundle import read_manifest, sha256_file, verify_release  # noqa: E402
from edgeinv.common.runtime.session import OnnxModel  # noqa: E402

from toyapp import SIGNAL, ToyVectorApp, tiny_recipe  # noqa: E402

FAST_SEARCH = SearchSettings(warmup=2, rounds=5, per_round=2)
ALL = ("teacher_fp32", "teacher_int8", "teacher_dynint8", "teacher_fp16", "pruned_fp32", "pruned_int8",
       "student_fp32", "student_int8")


@pytest.fixture(scope="module")
def signal_release(tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / SIGNAL.package_name
    recipe = tiny_recipe(n_train=256, n_val=64, n_test=96, epochs=15, finetune_epochs=4, distill_epochs=15)
    entry = build_release(SIGNAL, "default", out, recipe=recipe, progress=False, search_settings=FAST_SEARCH)
    return out, entry, recipe


def test_release_ships_all_variants_with_hashes_and_stats(signal_release):
    out, entry, _ = signal_release
    manifest = read_manifest(out)
    assert manifest["app"] == "toy-signal" and manifest["preprocessing_version"] == SIGNAL.preprocessing_version
    assert len(manifest["git_commit"]) in (7, 40) or manifest["git_commit"] == "unknown"
    assert manifest["configs"]["default"] == json.loads(json.dumps(entry))
    variants = entry["variants"]
    assert set(variants) | set(entry["skipped"]) == set(ALL)
    assert {"teacher_fp32", "teacher_int8", "pruned_fp32", "student_fp32"} <= set(variants)
    for name, v in variants.items():
        assert sha256_file(out / v["file"]) == v["sha256"]
        assert v["params"] > 0 and v["flops"] > 0 and v["size_bytes"] == (out / v["file"]).stat().st_size
        assert set(v["metrics"]) == {"fault", "amp_mm", "extra"}
        assert 0 < v["latency_ms"]["p50"] <= v["latency_ms"]["p99"]
    assert variants["pruned_fp32"]["flops"] < variants["teacher_fp32"]["flops"]
    assert variants["student_fp32"]["params"] < variants["teacher_fp32"]["params"]
    assert variants["teacher_int8"]["quantized_ops"]["QuantizeLinear"] >= 1
    assert entry["accurate"] == "teacher_fp32" and entry["chosen"] in variants
    verify_release(out)


def test_release_metrics_are_on_a_separate_heldout_seed(signal_release):
    out, entry, recipe = signal_release
    assert entry["heldout"]["seed"] == recipe.seed + HELDOUT_SEED_OFFSET and entry["heldout"]["n"] == recipe.n_test
    test = SIGNAL.simulate(recipe.n_test, rng=np.random.default_rng(entry["heldout"]["seed"]))
    v = entry["variants"]["teacher_fp32"]
    again = score(SIGNAL, predict_batched(OnnxModel(out / v["file"]), test.x), test.y)
    assert again["amp_mm"]["rmse"] == pytest.approx(v["metrics"]["amp_mm"]["rmse"], rel=1e-5)
    assert again["fault"]["accuracy"] == v["metrics"]["fault"]["accuracy"]
    assert entry["baseline"]["n"] == recipe.n_test and "amp_mm" in entry["baseline"]["metrics"]


def test_chosen_variant_is_within_budget_and_measured_faster(signal_release):
    _, entry, recipe = signal_release
    s = entry["search"]
    chosen = entry["chosen"]
    assert s["chosen"] == chosen and chosen in s["pareto"] or chosen == "teacher_fp32"
    if chosen != "teacher_fp32":
        row = s["variants"][chosen]
        assert row["within_budget"] and row["faster"] and row["speedup"] >= FAST_SEARCH.min_speedup
        ref = entry["variants"]["teacher_fp32"]["metrics"]
        got = entry["variants"][chosen]["metrics"]
        assert got["amp_mm"]["rmse"] - ref["amp_mm"]["rmse"] <= recipe.budget.regression_frac_range * 1.5 + 1e-9
        assert 100 * (ref["fault"]["accuracy"] - got["fault"]["accuracy"]) <= recipe.budget.classification_points
    for name, row in s["variants"].items():
        assert row["reasons"], name  # every variant says why it was (not) chosen


class TwoConfigApp(ToyVectorApp):
    name = "toy-two"
    configs = ("default", "other")


def test_manifest_merges_configs_and_train_teacher(tmp_path):
    app = TwoConfigApp()
    out = tmp_path / app.package_name
    recipe = tiny_recipe(epochs=3, finetune_epochs=1, distill_epochs=2, prune_ratio=0.0, n_train=128, n_val=32,
                         n_test=32)
    build_release(app, "default", out, recipe=recipe, progress=False, search_settings=FAST_SEARCH)
    build_release(app, "other", out, recipe=recipe, progress=False, search_settings=FAST_SEARCH)
    manifest = read_manifest(out)
    assert list(manifest["configs"]) == ["default", "other"]
    assert "pruned_fp32" not in manifest["configs"]["other"]["variants"]  # prune_ratio 0 -> no pruning step
    verify_release(out)
    report = train_teacher(app, "default", tmp_path / "trained", recipe=recipe, progress=False)
    assert (tmp_path / "trained" / "default" / "teacher_fp32.onnx").is_file()
    assert report["parity"]["ok"] and "lin_g" in report["heldout_metrics"]




def test_a_failing_compression_skips_its_variants_and_ships_the_rest(tmp_path, monkeypatch):
    """Distillation raising: the student and its INT8 are skipped with the reason; the teacher's variants ship."""
    import edgeinv.common.compress.distill as distill_mod

    def broken(*args, **kwargs):
        raise RuntimeError("distillation diverged")

    monkeypatch.setattr(distill_mod, "distill", broken)
    out = tmp_path / SIGNAL.package_name
    recipe = tiny_recipe(n_train=96, n_val=32, n_test=32, epochs=2, finetune_epochs=1, distill_epochs=1,
                         prune_ratio=0.0)
    entry = build_release(SIGNAL, "default", out, recipe=recipe, progress=False, search_settings=FAST_SEARCH)
    assert "distillation diverged" in entry["skipped"]["student"]
    assert entry["skipped"]["student_fp32"] == "not built: student is missing"
    assert entry["skipped"]["student_int8"] == "not built: student_fp32 is missing"
    assert "pruned_fp32" not in entry["skipped"] and "pruned_fp32" not in entry["variants"]  # not asked for
    assert {"teacher_fp32", "teacher_int8", "teacher_dynint8", "teacher_fp16"} == set(entry["variants"])
    assert entry["chosen"] in entry["variants"]
    verify_release(out)
