"""The hybrid edge path: off-manifold score, physics-led inversion where it fires, quality flags."""

from __future__ import annotations

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen import APP, baseline, hybrid
from edgeinv.apps.leaf_nitrogen.features import preprocess
from edgeinv.apps.leaf_nitrogen.interpret import interpret_leaf
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
from edgeinv.apps.leaf_nitrogen.physics import prospect_pro
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves

WL = np.arange(400.0, 2501.0)


def _fake_outputs():
    return {"protein_g_cm2": 1.2e-3, "protein_g_cm2_std": 6e-5, "chlorophyll_ug_cm2": 40.0,
            "chlorophyll_ug_cm2_std": 1.0, "ewt_g_cm2": 0.015, "ewt_g_cm2_std": 3e-4, "lma_g_cm2": 0.005,
            "lma_g_cm2_std": 1.5e-4, "structure_n": 1.5, "carotenoid_ug_cm2": 8.0}


def _prospect_leaf(**extra):
    _, r, _ = prospect_pro(n_struct=1.6, chlorophyll_ug_cm2=40, carotenoid_ug_cm2=9, ewt_g_cm2=0.015,
                           protein_g_cm2=0.0012, cbc_g_cm2=0.004)
    return LeafSpectrum("p", WL, r, **extra)


def _odd(reflectance):
    """A spectrum no leaf has: a water-free, featureless SWIR and a bump at 1200 nm."""
    odd = np.array(reflectance, float)
    odd[WL > 1400] = 0.45
    return odd + 0.08 * np.exp(-0.5 * ((WL - 1200) / 30) ** 2)


def test_simulated_leaves_rarely_fire_and_distorted_ones_do():
    leaves = simulate_leaves(200, rng=np.random.default_rng(31), config="full")
    x = np.stack([preprocess(leaf, config="full") for leaf in leaves])
    s = hybrid.ood_score(x, config="full")["score"]
    assert np.mean(s > 1) <= 0.05  # threshold at the 99th percentile of the reference simulations
    leaf = _prospect_leaf()
    one = hybrid.ood_score(preprocess(leaf, config="full"), config="full")
    assert set(one) == {"score", "t2", "q"} and one["score"] < 1
    score = hybrid.ood_score(preprocess(LeafSpectrum("o", WL, _odd(leaf.reflectance)), config="full"),
                             config="full")["score"]
    assert score > 1


def test_on_manifold_keeps_the_network_and_off_manifold_lets_physics_lead():
    leaf = _prospect_leaf()
    out, info = hybrid.hybrid_outputs(_fake_outputs(), leaf, config="full")
    assert info["physics_weight"] == 0 and not info["physics_led"]
    # the network's values; its sigmas with PROSPECT-PRO's own error on a real leaf (issue 14, stop 24)
    assert out == hybrid.with_model_error(_fake_outputs()) and out["protein_g_cm2"] == _fake_outputs()["protein_g_cm2"]
    assert out["protein_g_cm2_std"] == pytest.approx(np.hypot(6e-5, hybrid.MODEL_ERROR_REL * 1.2e-3))
    off = LeafSpectrum("o", WL, _odd(leaf.reflectance))
    out, info = hybrid.hybrid_outputs(_fake_outputs(), off, config="full")
    assert info["ood_score"] > 1.1 and info["physics_weight"] == 1 and info["physics_led"]
    assert any("water" in r or "ewt" in r for r in info["unlike_any_leaf"])  # a water-free leaf: no training leaf
    phys = hybrid.physics_estimate(off)
    assert out["protein_g_cm2"] == pytest.approx(phys["protein_g_cm2"])
    assert out["protein_g_cm2_std"] >= abs(_fake_outputs()["protein_g_cm2"] - phys["protein_g_cm2"])  # the disagreement
    r = interpret_leaf(out, off, config="full", info=info)
    assert r.method == "physics" and r.ood_score > 1 and any("off the simulator's manifold" in f for f in r.flags)
    assert r.to_dict()["off_manifold"] is True


def _net(protein=1.2e-3, sd=6e-5):
    return {**_fake_outputs(), "protein_g_cm2": protein, "protein_g_cm2_std": sd}


def _phys(protein=1.6e-3):
    return {"protein_g_cm2": protein, "protein_g_cm2_std": 4e-4, "chlorophyll_ug_cm2": 35.0,
            "chlorophyll_ug_cm2_std": 9.0, "ewt_g_cm2": 0.016, "ewt_g_cm2_std": 4e-3, "lma_g_cm2": 0.006,
            "lma_g_cm2_std": 1.5e-3, "structure_n": 1.7}


def test_combine_weighs_by_uncertainty_and_is_continuous_at_the_threshold():
    net, phys = _net(), _phys()
    at_one, w0 = hybrid.combine(net, phys, score=1.0)
    assert w0 == 0 and at_one["protein_g_cm2"] == net["protein_g_cm2"]  # ramp 0: the network as it is
    just, w1 = hybrid.combine(net, phys, score=1.001)
    assert 0 < w1 < 0.02 and at_one["protein_g_cm2"] < just["protein_g_cm2"] < 1.21e-3
    ws = []
    for score in (1.2, 2.0, 8.0, 100.0):
        out, w = hybrid.combine(net, phys, score=score)
        ws.append(w)
        assert net["protein_g_cm2"] < out["protein_g_cm2"] < phys["protein_g_cm2"]
        assert out["protein_g_cm2"] == pytest.approx((1 - w) * 1.2e-3 + w * 1.6e-3)
        # PROSPECT-PRO's own error and half the disagreement are in the interval
        assert out["protein_g_cm2_std"] >= max(hybrid.MODEL_ERROR_REL * out["protein_g_cm2"], 0.5 * 4e-4)
    assert ws == sorted(ws) and ws[-1] > 0.8  # the further off the manifold, the more the physics counts
    # the edge factor: a network sigma inflated by NETWORK_EDGE_FACTOR * sqrt(score), physics by its simulation error
    s_n, s_p = 6e-5 * hybrid.NETWORK_EDGE_FACTOR * np.sqrt(2.0), hybrid.PHYSICS_SD["protein_g_cm2"]
    assert ws[1] == pytest.approx(s_n**2 / (s_n**2 + s_p**2))
    # a network already unsure weighs less
    assert hybrid.combine(_net(sd=3e-4), phys, score=2.0)[1] > ws[1]


def test_model_error_is_in_every_real_leaf_sigma_continuous_at_the_threshold_but_not_in_a_calibrated_one():
    """Issue 14, stop 24: on real leaves the N error was as large on the manifold as off it, so PROSPECT-PRO's own
    error is in the sigma whatever the score; at score 1 the network-only path and the combination agree."""
    net = _net()
    on = hybrid.with_model_error(net)
    at_one, _ = hybrid.combine(net, _phys(), score=1.0)
    for k in ("protein_g_cm2", "chlorophyll_ug_cm2", "ewt_g_cm2", "lma_g_cm2"):
        assert on[k] == net[k] and on[f"{k}_std"] == pytest.approx(at_one[f"{k}_std"])
        assert on[f"{k}_std"] >= hybrid.MODEL_ERROR_REL * net[k] and on[f"{k}_std"] > net[f"{k}_std"]
    assert on["structure_n"] == net["structure_n"] and "structure_n_std" not in on
    leaf = _prospect_leaf(meta={"network_only": True})
    out, _ = hybrid.hybrid_outputs(_fake_outputs(), leaf, config="full")
    assert out == _fake_outputs()  # a model the user calibrated (or chose) on real leaves: no simulator error added


def test_a_failed_check_hands_the_leaf_to_the_physics_with_the_disagreement_in_its_sigma():
    net, phys = _net(), _phys(protein=2e-4)
    out, w = hybrid.combine(net, phys, score=1.05, hard=True, widen=3.0)
    assert w == 1 and out["protein_g_cm2"] == 2e-4 and out["structure_n"] == 1.7
    assert out["protein_g_cm2_std"] == pytest.approx(np.hypot(3 * 4e-4, 1e-3))


def test_physics_checks_pass_a_leaf_and_catch_spectra_no_leaf_has():
    leaf = _prospect_leaf()
    reasons, resid = hybrid.physics_checks(leaf, hybrid.physics_estimate(leaf), noise=1e-4)
    assert reasons == [] and resid < 0.1 * hybrid.RESIDUAL_LIMIT
    flat = LeafSpectrum("f", WL, np.full(len(WL), 0.3))
    reasons, resid = hybrid.physics_checks(flat, hybrid.physics_estimate(flat), noise=1e-4)
    assert resid > hybrid.RESIDUAL_LIMIT and any("fit residual" in r for r in reasons)
    assert hybrid.physics_checks(leaf, hybrid.physics_estimate(leaf), noise=0.02)[0] == ["SWIR noise 0.020"]


@pytest.mark.parametrize("case", ["flat", "swir_dark", "ramp"])
def test_unphysical_spectra_are_never_led_by_a_confident_network(case):
    """A confident network (sigma 5 %) on spectra no leaf has: the physics leads and the interval is wide."""
    leaf = _prospect_leaf()
    r = {"flat": np.full(len(WL), 0.3), "swir_dark": np.where(WL > 1300, 0.6 * leaf.reflectance, leaf.reflectance),
         "ramp": np.linspace(0.1, 0.4, len(WL))}[case]
    out, info = hybrid.hybrid_outputs(_fake_outputs(), LeafSpectrum("g", WL, r), config="full")
    assert info["ood_score"] > 1 and info["physics_weight"] == 1 and info["unlike_any_leaf"]
    assert out["protein_g_cm2_std"] > 0.5 * max(out["protein_g_cm2"], 1e-4)


def test_app_interpret_goes_through_the_hybrid():
    r = APP.interpret(_fake_outputs(), _prospect_leaf())
    assert r.method == "model" and r.ood_score is not None and r.ood_score < 1
    assert APP.interpret({"protein_g_cm2": 1e-3}, _prospect_leaf()).method == "baseline"


def test_noisy_swir_is_not_resolvable():
    leaf = _prospect_leaf()
    assert hybrid.swir_noise(wavelength_nm=WL, reflectance=leaf.reflectance) < 1e-3
    noisy = LeafSpectrum("n", WL, np.clip(leaf.reflectance + 0.03 * np.random.default_rng(2).standard_normal(len(WL)),
                                          0.001, 0.99))
    assert hybrid.swir_noise(wavelength_nm=WL, reflectance=noisy.reflectance) == pytest.approx(0.03, rel=0.2)
    r = APP.interpret(_fake_outputs(), noisy)
    assert not r.protein_resolvable and r.values["nitrogen_g_m2"] is None
    assert any("not resolvable" in f for f in r.flags)


def test_vnir_says_protein_is_not_resolvable():
    vn = np.arange(400.0, 1001.0)
    _, r, _ = prospect_pro(n_struct=1.5, chlorophyll_ug_cm2=40, wavelength_nm=vn)
    res = APP.interpret(_fake_outputs(), LeafSpectrum("v", vn, r))
    assert res.config == "vnir" and not res.protein_resolvable
    assert any("not resolvable" in f for f in res.flags)


@pytest.mark.parametrize("n_struct", [1.3, 1.8, 2.3])
def test_structure_fit_recovers_n_on_model_spectra(n_struct):
    _, r, _ = prospect_pro(n_struct=n_struct, chlorophyll_ug_cm2=35, ewt_g_cm2=0.012, protein_g_cm2=0.001,
                           cbc_g_cm2=0.005)
    assert baseline.structure_from_fit(wavelength_nm=WL, reflectance=r) == pytest.approx(n_struct, abs=0.08)
    assert baseline.structure_from_fit(wavelength_nm=WL[:500], reflectance=r[:500]) is None  # no NIR plateau


def test_network_only_reports_but_does_not_override():
    leaf = _prospect_leaf()
    off = LeafSpectrum("o", WL, _odd(leaf.reflectance), meta={"network_only": True})
    out, info = hybrid.hybrid_outputs(_fake_outputs(), off, config="full")
    assert info["ood_score"] > 1 and info["network_only"] and out == _fake_outputs()
    r = interpret_leaf(out, off, config="full", info=info)
    assert r.method == "model" and any("network only" in f for f in r.flags)


class _Runner:
    """A stand-in ONNX runner: fixed network outputs, with the metadata a calibrated release writes (or not)."""

    def __init__(self, calibrated: bool):
        self.metadata = {"calibrated_from": "ab12"} if calibrated else {}

    def __call__(self, x):
        return {k: np.full(len(x), v, np.float32) for k, v in _fake_outputs().items()}


@pytest.mark.parametrize("calibrated", [False, True])
def test_a_model_calibrated_on_real_leaves_leads_without_a_flag(calibrated):
    """`calibrate` on the user's own leaves, then `predict --model DIR`: the calibrated network leads on
    off-manifold leaves by itself (before, physics overrode it unless --network-only was typed)."""
    from edgeinv.apps.leaf_nitrogen.analysis import calibrated_on_real_leaves, predict_leaves

    off = LeafSpectrum("o", WL, _odd(_prospect_leaf().reflectance))
    runner = _Runner(calibrated)
    assert calibrated_on_real_leaves(runner) is calibrated
    [(_, result, outputs)] = predict_leaves(APP, [off], lambda config: runner)
    d = result.to_dict()
    assert d["off_manifold"] is True  # the score is still reported either way
    if calibrated:
        assert result.physics_weight == 0 and outputs["protein_g_cm2"] == pytest.approx(1.2e-3, rel=1e-6)
        assert any("calibrated on real leaves" in f for f in result.flags)
    else:
        assert result.physics_weight == 1
        assert outputs["protein_g_cm2"] == pytest.approx(hybrid.physics_estimate(off)["protein_g_cm2"], rel=1e-6)
