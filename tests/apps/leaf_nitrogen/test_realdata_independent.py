"""evaluate-real on labelled tables (a simulated stand-in here; the shared real leaves when present) and the
independent-simulation check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen import APP
from edgeinv.apps.leaf_nitrogen.independent import PRIORS, check_independent, simulate_independent
from edgeinv.apps.leaf_nitrogen.physics import nitrogen_area_g_m2
from edgeinv.apps.leaf_nitrogen.realdata import read_table
from edgeinv.apps.leaf_nitrogen.simulate import simulate_leaves
from edgeinv.common.config import load_settings
from edgeinv.common.errors import InvalidInputError
from edgeinv.common.runtime.bundle import load_runner

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "realdata" / "leaf-nitrogen"


def _runner_for(config):
    return load_runner(APP, load_settings(), config=config)


def _table(path: Path, n=8, species=("BB", "AA")):
    """An EcoSIS/spectratrait-layout table (Wave_500..Wave_2400 in percent) of simulated leaves."""
    leaves = simulate_leaves(n, rng=np.random.default_rng(8), config="trimmed")
    wl = np.arange(500, 2401)
    head = ["Species_Code", "N_g_m2", "LMA_g_m2", "H20_g_m2"] + [f"Wave_{w}" for w in wl]
    lines = [",".join(head)]
    for i, leaf in enumerate(leaves):
        r = 100 * np.interp(wl, leaf.wavelength_nm, leaf.reflectance)
        n = float(nitrogen_area_g_m2(protein_g_cm2=leaf.truth["protein_g_cm2"]))
        lines.append(",".join([species[i % len(species)], f"{n:.4f}", f"{1e4 * leaf.truth['lma_g_cm2']:.3f}",
                               f"{1e4 * leaf.truth['ewt_g_cm2']:.3f}"] + [f"{v:.4f}" for v in r]))
    lines.append(",".join(["BB", "NA", "40", "150"] + ["30"] * len(wl)))  # unlabelled leaf: not scored
    path.write_text("\n".join(lines) + "\n")
    return leaves


def test_read_table_detects_percent_and_skips_trait_tables(tmp_path):
    _table(tmp_path / "t.csv")
    rows = read_table(tmp_path / "t.csv")
    assert len(rows) == 8 and rows[0]["leaf"].meta["percent"] and rows[0]["leaf"].reflectance.max() < 1
    (tmp_path / "traits.csv").write_text("chl,LMA,N\n200,45,1.8\n")
    assert read_table(tmp_path / "traits.csv") is None


def test_evaluate_real_on_a_labelled_table(tmp_path):
    _table(tmp_path / "t.csv")
    (tmp_path / "traits.csv").write_text("chl,LMA,N\n200,45,1.8\n")
    res = APP.evaluate_real(tmp_path, _runner_for)
    json.dumps(res, allow_nan=False)
    s = res["summary"]
    assert s["n_leaves"] == 8 and s["skipped"] == ["traits.csv"] and set(s["species"]) == {"AA", "BB", "all"}
    for key in ("hybrid", "model"):
        assert {"nrmse", "r2", "bias", "within_1sd", "within_2sd"} <= set(s["species"]["all"][key])
        cov = s["species"]["all"][key]
        assert cov["within_1sd"] <= cov["within_2sd"]
    for k in ("protein_not_resolvable_share", "flagged_share", "implied_n_to_protein_hybrid"):
        assert k in s["species"]["all"]
    # simulated leaves carry the app's own factor: the protein they imply maps back to it within 15 %
    assert s["species"]["all"]["implied_n_to_protein_hybrid"] == pytest.approx(APP.n_to_protein, rel=0.15)
    assert "nitrogen_g_m2" in res["baseline"]["all"] and len(res["rows"]) == 8
    assert set(s["species"]["AA"]["within_species"]) == {"hybrid", "model", "iterative"}
    assert "within_species" not in s["species"]["all"] and "relative-N R2" in res["text"]
    fm = s["species"]["AA"]["field_mean"]  # issue 14: the shared part only widens the field mean's error
    assert fm["se"] > fm["se_independent"] > 0 and abs(fm["z"]) < abs(fm["z_independent"]) and "one field" in res["text"]
    assert "field_mean" not in s["species"]["all"]
    assert "hybrid NRMSE" in res["text"] and "iterative" in res["text"]
    assert set(s["ceiling"]["by_species"]) == {"AA", "BB"} and "note" in s["ceiling"]["by_species"]["AA"]  # 4 leaves
    on, off = s["species"]["all"]["hybrid_on_manifold"], s["species"]["all"]["hybrid_off_manifold"]
    assert on["n"] + off["n"] == 8 and on["n"] >= 6  # simulated leaves: mostly on the manifold
    # simulated leaves are on the manifold: the network leads and is accurate
    assert s["species"]["all"]["physics_led_share"] <= 0.25
    assert s["species"]["all"]["hybrid"]["nrmse"] < 0.2
    with pytest.raises(InvalidInputError, match="no labelled spectra"):
        APP.evaluate_real(tmp_path / "nothing_here", _runner_for)


@pytest.mark.skipif(not REAL.is_dir(), reason="shared real leaves not available")
def test_on_real_leaves_the_hybrid_is_not_worse_than_the_iterative_inversion():
    res = APP.evaluate_real(REAL, _runner_for)
    s, b = res["summary"]["species"]["all"], res["baseline"]["all"]["nitrogen_g_m2"]
    assert s["off_manifold_share"] > 0.5  # real leaf-clip spectra are not PROSPECT-PRO simulations
    assert s["hybrid"]["rmse"] <= 1.05 * b["rmse"]
    assert s["hybrid"]["within_1sd"] >= 0.5  # intervals checked on real leaves (nominal 68 %)
    assert s["hybrid"]["within_2sd"] >= 0.8  # nominal 95 %
    # issue 14: the edge path is never worse than the iterative inversion alone, species by species
    for sp, d in res["summary"]["species"].items():
        assert d["hybrid"]["rmse"] <= res["baseline"][sp]["nitrogen_g_m2"]["rmse"], sp
    # the shipped manifest's `real` section is this run's (evaluate-real --record)
    manifest = json.loads((Path(__file__).resolve().parents[3] / "models/leaf_nitrogen/manifest.json").read_text())
    for sp, d in res["summary"]["species"].items():
        rec = manifest["real"]["summary"]["species"][sp]["hybrid"]
        assert rec["nrmse"] == pytest.approx(d["hybrid"]["nrmse"], rel=1e-6), sp
        assert rec["r2"] == pytest.approx(d["hybrid"]["r2"], rel=1e-6), sp


def test_independent_simulation_generator():
    leaves = simulate_independent(50, rng=np.random.default_rng(1), config="trimmed")
    assert leaves[0].wavelength_nm[0] == 500 and leaves[0].wavelength_nm[-1] == 2400
    for k, (lo, hi) in PRIORS.items():
        v = np.array([leaf.truth[k] for leaf in leaves])
        assert v.min() >= lo and v.max() <= hi


def test_independent_check_meets_the_goals():
    """Issue 14 goals on the independent simulation: protein NRMSE <= 0.06, chlorophyll RMSE <= 2 ug/cm2."""
    rep = check_independent(APP, _runner_for, n=300, n_baseline=3, config="full")
    json.dumps(rep, allow_nan=False)
    assert rep["model"]["protein_g_cm2"]["nrmse_range"] <= 0.06
    assert rep["model"]["chlorophyll_ug_cm2"]["rmse"] <= 2.0
    assert rep["hybrid"]["ood_fired_share"] < 0.1
    assert "iterative" in rep["text"]


def test_read_labelled_for_calibration_both_layouts(tmp_path):
    from edgeinv.apps.leaf_nitrogen.io import write_leaves_csv

    _table(tmp_path / "t.csv")
    pairs = APP.read_labelled(tmp_path / "t.csv", tmp_path / "t.csv")
    assert len(pairs) == 8 and {y["_group"] for _, y in pairs} == {"AA", "BB"}
    leaf, y = pairs[0]
    assert {"protein_g_cm2", "lma_g_cm2", "ewt_g_cm2"} <= set(y) and y["lma_g_cm2"] < 0.05
    leaves = simulate_leaves(4, rng=np.random.default_rng(3), config="full")
    spectra = write_leaves_csv(tmp_path / "spectra.csv", leaves)
    labels = tmp_path / "labels.csv"
    labels.write_text("sample,nitrogen_g_m2,species\n" + "".join(f"{lf.sample},1.5,{'x' if i % 2 else 'y'}\n"
                                                               for i, lf in enumerate(leaves[:3])))
    pairs = APP.read_labelled(spectra, labels)
    assert [p[0].sample for p in pairs] == [lf.sample for lf in leaves[:3]]
    assert pairs[0][1]["_group"] == "y" and pairs[0][1]["protein_g_cm2"] == pytest.approx(1.5 * 4.43 / 1e4)
    labels.write_text("sample,nitrogen_g_m2\nghost,1.0\n")
    with pytest.raises(InvalidInputError, match="not in the spectra file"):
        APP.read_labelled(spectra, labels)


def test_within_species_figures_ignore_a_multiplicative_bias_but_not_an_offset():
    from edgeinv.apps.leaf_nitrogen.realdata import _within

    truth = np.array([0.6, 0.9, 1.1, 1.4, 1.8])
    scaled = _within(1.3 * truth, truth)  # a species read 30 % high: the reference-strip ratio is still right
    assert scaled["relative_r2"] == pytest.approx(1.0) and scaled["r2_best_linear"] == pytest.approx(1.0)
    shifted = _within(truth + 1.0, truth)  # an offset changes the ratios (here shrinks them about 2x)
    assert shifted["relative_r2"] < 0.85 and shifted["r2_best_linear"] == pytest.approx(1.0)
    assert _within([1.0, 1.0, 1.0], [0.5, 1.0, 1.5]) == {}


def test_pls_recovers_a_linear_relation_and_loo_picks_its_rank():
    from edgeinv.apps.leaf_nitrogen.loso import pls_choose, pls_fit, pls_predict

    rng = np.random.default_rng(3)
    latent = rng.normal(size=(40, 2))
    x = latent @ rng.normal(size=(2, 30)) + 0.01 * rng.normal(size=(40, 30))
    y = 1.5 * latent[:, 0] - 0.7 * latent[:, 1] + 0.01 * rng.normal(size=40)
    assert 2 <= pls_choose(x[:30], y[:30], max_components=6) <= 6  # two latent directions carry y: not 1
    pred = pls_predict(pls_fit(x[:30], y[:30], 2), x[30:])
    assert np.sqrt(np.mean((pred - y[30:]) ** 2)) < 0.05 * np.std(y)
    one = pls_predict(pls_fit(x[:30], y[:30], 1), x[30:])  # one component misses the second direction
    assert np.sqrt(np.mean((one - y[30:]) ** 2)) > 3 * np.sqrt(np.mean((pred - y[30:]) ** 2))


def test_own_species_leaves_remove_a_species_factor_that_other_species_cannot():
    """Issue 14: an estimate right up to a per-species factor -- k own leaves recover it, and the report's count of
    own leaves needed is the smallest k that reaches the goal; an estimate with no within-species signal never does."""
    from edgeinv.apps.leaf_nitrogen.loso import GOAL_R2_LOSO, own_species

    rng = np.random.default_rng(0)
    sp = np.repeat(["a", "b", "c"], 12)
    truth = rng.uniform(0.5, 2.5, sp.size)
    factor = np.select([sp == "a", sp == "b"], [0.7, 1.4], 1.0)
    x = np.column_stack([truth * factor, rng.normal(size=sp.size), rng.normal(size=sp.size)])
    good = own_species(x, truth * factor * (1 + 0.02 * rng.normal(size=sp.size)), truth, sp, ks=(3, 5), draws=5)
    assert all(good["needed"][s] == 3 for s in "abc")
    assert all(good["by_species"][s][3]["hybrid_own_scale"]["r2"] > 0.95 for s in "abc")
    noise = own_species(x, rng.uniform(0.5, 2.5, sp.size), truth, sp, ks=(3,), draws=5)
    assert all(noise["by_species"][s][3]["hybrid_own_scale"]["r2"] < GOAL_R2_LOSO for s in "abc")


def test_own_species_split_relabels_exactly_the_held_out_leaves(tmp_path):
    from edgeinv.apps.leaf_nitrogen.loso import HELD_OUT_GROUP, _relabelled

    (tmp_path / "src").mkdir()
    _table(tmp_path / "src" / "t.csv")
    table = read_table(tmp_path / "src" / "t.csv")
    pick = [t["line"] for t in table[::3]]
    out = read_table(_relabelled(tmp_path / "src" / "t.csv", pick, tmp_path))
    assert [t["species"] == HELD_OUT_GROUP for t in out] == [t["line"] in pick for t in table]
    assert [t["n_g_m2"] for t in out] == [t["n_g_m2"] for t in table]


def test_loso_refuses_a_table_with_fewer_than_three_species(tmp_path):
    from edgeinv.apps.leaf_nitrogen.loso import loso

    _table(tmp_path / "t.csv")  # two species
    with pytest.raises(InvalidInputError, match="at least 3 species"):
        loso(APP, tmp_path / "t.csv", _runner_for, settings=load_settings())
    with pytest.raises(InvalidInputError, match="not a labelled table"):
        loso(APP, tmp_path / "missing.csv", _runner_for, settings=load_settings())


def test_pls_path_rows_equal_fits_with_exactly_that_many_components():
    from edgeinv.apps.leaf_nitrogen.loso import pls_fit, pls_path

    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(15, 12)), rng.normal(size=15)
    coefs, _, _ = pls_path(x, y, 4)
    for a in (1, 2, 4):
        np.testing.assert_allclose(coefs[a - 1], pls_fit(x, y, a)[0], atol=1e-12)
    assert not np.allclose(coefs[0], coefs[3])


def test_ceiling_tells_a_species_whose_spectra_carry_n_from_one_whose_do_not():
    """Issue 14: own-species cross-validated PLSR and a linear recalibration fitted inside the folds -- a species whose
    N is in its spectra reaches the goal, a species whose N is unrelated to them does not (components chosen inside the
    folds, so the noise species cannot borrow its test leaves), and the zero-shot estimate is judged the same way."""
    from edgeinv.apps.leaf_nitrogen.loso import GOAL_R2_LOSO, ceiling, ceiling_text

    rng = np.random.default_rng(1)
    sp = np.repeat(["good", "noise", "few"], [14, 14, 5])
    y = rng.uniform(0.5, 2.0, sp.size)
    base = 0.3 + 0.01 * rng.normal(size=(sp.size, 20))
    x = base + np.where(sp == "good", 1.0, 0.0)[:, None] * 0.05 * y[:, None] * np.linspace(0, 1, 20)
    est = np.where(sp == "good", 2.0 * y + 0.3, rng.uniform(0.5, 2.0, sp.size))  # biased but linear vs useless
    c = ceiling(x, est, y, sp, folds=4, repeats=3)
    good, noise = c["by_species"]["good"], c["by_species"]["noise"]
    assert good["attainable"] and good["attainable_kfold"] and good["app_linear_cv"]["loo_r2"] > 0.99
    assert good["pls_reflectance"]["kfold_r2_median"] > GOAL_R2_LOSO
    assert not noise["attainable"] and noise["pls_reflectance"]["loo_r2"] < 0.3 and noise["app_linear_cv"]["loo_r2"] < 0.3
    assert "note" in c["by_species"]["few"] and "attainable" not in c["by_species"]["few"]
    assert good["n_range_g_m2"] == [float(y[sp == "good"].min()), float(y[sp == "good"].max())]
    text = "\n".join(ceiling_text(c))
    assert "NOT reached even with its own labels" in text and "fewer than" in text
    again = ceiling(x[sp == "good"], est[sp == "good"], y[sp == "good"], sp[sp == "good"], folds=4, repeats=3)
    assert again["by_species"]["good"] == good  # the same splits whichever other species the table holds


def test_cli_loso_ceiling_only_prints_the_ceiling_without_calibrating(tmp_path, capsys):
    """`loso --ceiling-only`: the zero-shot estimates and each species' ceiling, no calibration (issue 14, stop 24)."""
    from edgeinv.common.cli import main

    _table(tmp_path / "t.csv", n=27, species=("AA", "BB", "CC"))
    assert main(["--json", "leaf-nitrogen", "loso", str(tmp_path / "t.csv"), "--ceiling-only"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "species" not in doc and "own_species" not in doc  # nothing calibrated
    by = doc["ceiling"]["by_species"]
    assert set(by) == {"AA", "BB", "CC"} and set(doc["zero_shot"]) == {"AA", "BB", "CC"}
    for d in by.values():
        assert d["n"] == 9 and {"pls_reflectance", "pls_log_1_r", "app_linear_cv"} <= set(d)
        assert d["best_own_r2_loo"] >= d["app_linear_cv"]["loo_r2"]
    # simulated leaves: the app's own N recalibrated within a species carries it
    assert all(d["app_linear_cv"]["loo_r2"] > 0.5 for d in by.values())
    assert "ceiling:" in doc["text"]
