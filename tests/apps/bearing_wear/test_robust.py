"""Variant choice on call stability: the paired rule, the choice among candidates, one small measured run."""

import numpy as np

from edgeinv.apps.bearing_wear import robust
from edgeinv.apps.bearing_wear.app import APP
from edgeinv.apps.bearing_wear.features import HYPOTHESES, N_VC


def test_less_robust_is_a_paired_test():
    a = np.array([True] * 90 + [False] * 10)
    assert not robust.less_robust(a, a)
    b = a.copy()
    b[90:92] = True  # 2 more stable recordings: noise
    assert not robust.less_robust(a, b)
    c = np.ones(100, dtype=bool)  # 10 more stable, none less: beyond 2 standard errors
    assert robust.less_robust(a, c) and not robust.less_robust(c, a)
    d = a.copy()
    d[90:100] = True
    d[:8] = False  # 10 gained, 8 lost: a wash
    assert not robust.less_robust(a, d)


def _entry(chosen="student_fp32"):
    names = ("teacher_fp32", "student_fp32", "teacher_int8")
    return {"chosen": chosen,
            "variants": {n: {"file": f"default/{n}.onnx", "latency_ms": {"p50": p}} for n, p in zip(names, (0.3, 0.1, 0.2))},
            "search": {"reference": "teacher_fp32",
                       "variants": {"teacher_fp32": {"within_budget": True, "faster": False},
                                    "student_fp32": {"within_budget": True, "faster": True},
                                    "teacher_int8": {"within_budget": False, "faster": True}}}}


def test_candidates_are_the_eligible_variants_and_the_reference():
    assert robust.candidates(_entry()) == ["teacher_fp32", "student_fp32"]


def test_choice_keeps_the_core_pick_unless_it_is_less_robust():
    stable = np.ones(100, dtype=bool)
    shaky = stable.copy()
    shaky[:15] = False
    same = robust.choose(_entry(), {"teacher_fp32": {"stable": 1.0, "_stable": stable},
                                    "student_fp32": {"stable": 0.99, "_stable": np.r_[stable[:99], False]}})
    assert same["chosen"] == "student_fp32" and same["less_robust"] == []
    moved = robust.choose(_entry(), {"teacher_fp32": {"stable": 1.0, "_stable": stable},
                                     "student_fp32": {"stable": 0.85, "_stable": shaky}})
    assert moved["chosen"] == "teacher_fp32" and moved["less_robust"] == ["student_fp32"]
    assert moved["core_choice"] == "student_fp32" and "_stable" not in moved["variants"]["student_fp32"]


def test_call_stability_runs_the_whole_decision_on_perturbed_recordings():
    """Two fake 'variants': one follows the envelope views, one always says cage (stable but mostly wrong)."""

    def follows_views(x):
        peaks = np.stack([x[:, i * N_VC, 60:70].max(axis=1) for i in range(len(HYPOTHESES))], axis=1)
        logits = np.concatenate([np.full((len(x), 1), 2.0), peaks], axis=1)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        return {"fault": p / p.sum(axis=1, keepdims=True), "defect_size_mm": np.ones((len(x), 1)),
                "defect_size_mm_std": np.ones((len(x), 1))}

    def cage(x):
        p = np.tile([0.01, 0.01, 0.01, 0.01, 0.96], (len(x), 1))
        return {"fault": p, "defect_size_mm": np.ones((len(x), 1)), "defect_size_mm_std": np.ones((len(x), 1))}

    out = robust.call_stability(APP, {"views": follows_views, "cage": cage}, n=3, seed=5)
    for name in ("views", "cage"):
        assert out[name]["n"] == 3 and 0.0 <= out[name]["stable"] <= 1.0 and 0.0 <= out[name]["accuracy"] <= 1.0
        assert out[name]["_stable"].shape == (3,)
    # a retraining-seed twin: an identical one changes nothing, another one can only remove stable recordings
    seeded = robust.call_stability(APP, {"views": follows_views, "cage": cage}, n=3, seed=5,
                                   retrained={"views": follows_views, "cage": follows_views})
    assert seeded["views"]["retrained_seed_agreement"] == 1.0
    np.testing.assert_array_equal(seeded["views"]["_stable"], out["views"]["_stable"])
    assert not np.any(seeded["cage"]["_stable"] & ~out["cage"]["_stable"])
    assert 0.0 <= seeded["cage"]["retrained_seed_agreement"] <= 1.0
