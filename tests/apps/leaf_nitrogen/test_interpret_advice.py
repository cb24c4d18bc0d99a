"""Leaf results (units, uncertainty, VNIR caveats) and the field's fertilization advice, checked by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeinv.apps.leaf_nitrogen import advice
from edgeinv.apps.leaf_nitrogen.interpret import N_ROUGH_REL, N_TO_PROTEIN_REL_SD, interpret_leaf
from edgeinv.apps.leaf_nitrogen.io import LeafSpectrum
from edgeinv.apps.leaf_nitrogen.physics import protein_from_nitrogen_g_cm2
from edgeinv.common.errors import ConfigError, InvalidInputError

FULL = np.arange(400.0, 2501.0)
VNIR = np.arange(400.0, 1001.0)


def _leaf(n_g_m2, *, wl=FULL, lma=0.005, std=0.05, name="l", factor=None):
    sample = LeafSpectrum(name, wl, np.full_like(wl, 0.3))
    if factor:
        sample.meta["n_to_protein"] = factor
    prot = float(protein_from_nitrogen_g_cm2(nitrogen_g_m2=n_g_m2))
    out = {"protein_g_cm2": np.float32(prot), "protein_g_cm2_std": np.float32(prot * std),
           "chlorophyll_ug_cm2": np.float32(40), "chlorophyll_ug_cm2_std": np.float32(1.0),
           "ewt_g_cm2": np.float32(0.015), "ewt_g_cm2_std": np.float32(3e-4),
           "lma_g_cm2": np.float32(lma), "lma_g_cm2_std": np.float32(lma * 0.03),
           "structure_n": np.float32(1.6), "carotenoid_ug_cm2": np.float32(8)}
    return interpret_leaf(out, sample)


def test_leaf_nitrogen_per_area_and_mass():
    r = _leaf(2.0, lma=0.005)
    assert r.config == "full" and r.method == "model"
    assert r.values["nitrogen_g_m2"] == pytest.approx(2.0, rel=1e-5)
    # protein's 5 % and the N-to-protein factor's spread (N_TO_PROTEIN_REL_SD) propagated
    assert r.stds["nitrogen_g_m2"] == pytest.approx(2.0 * np.hypot(0.05, N_TO_PROTEIN_REL_SD), rel=1e-4)
    assert r.values["nitrogen_percent"] == pytest.approx(4.0, rel=1e-5)  # 2 g N/m2 in 50 g/m2 of dry matter
    assert r.stds["nitrogen_percent"] == pytest.approx(4.0 * np.sqrt(0.05**2 + 0.03**2 + N_TO_PROTEIN_REL_SD**2),
                                                       rel=1e-3)
    assert r.to_dict()["nonprotein_n_share"] == pytest.approx(1 - 4.43 / 6.25)
    d = json.loads(json.dumps(r.to_dict()))
    for key in ("sample", "nitrogen_g_m2", "protein_g_cm2", "chlorophyll_ug_cm2"):
        assert key in d and f"{key}_std" in d or key == "sample"
    assert "leaf N per area" in r.summary() and "± 0.22" in r.summary()


def test_rough_nitrogen_is_said_per_leaf():
    """A leaf whose N sigma exceeds N_ROUGH_REL of the value says it is only roughly resolved; a precise one does not."""
    precise = _leaf(2.0, std=0.05)  # 1 sigma = 11 % of the value (protein 5 % + factor 10 %)
    assert not any("roughly resolved" in f for f in precise.flags)
    rel = float(np.sqrt((N_ROUGH_REL + 0.05) ** 2 - N_TO_PROTEIN_REL_SD**2))  # just above the bound
    rough = _leaf(2.0, std=rel)
    assert rough.stds["nitrogen_g_m2"] > N_ROUGH_REL * 2.0
    assert any("roughly resolved" in f and f"±{rough.stds['nitrogen_g_m2']:.2f} g/m²" in f for f in rough.flags)
    assert rough.values["nitrogen_g_m2"] == pytest.approx(2.0, rel=1e-5)  # said, not withheld
    assert not any("roughly resolved" in f for f in _leaf(2.0, wl=VNIR, std=rel).flags)  # VNIR says more already


def test_settable_nitrogen_to_protein_factor():
    prot = float(protein_from_nitrogen_g_cm2(nitrogen_g_m2=2.0))  # with 4.43
    r = interpret_leaf({"protein_g_cm2": np.float32(prot)}, LeafSpectrum("x", FULL, np.full_like(FULL, 0.3),
                                                                          meta={"n_to_protein": 6.25}))
    assert r.values["nitrogen_g_m2"] == pytest.approx(2.0 * 4.43 / 6.25, rel=1e-5)
    assert r.n_to_protein == 6.25


def test_vnir_leaf_is_flagged_and_withholds_swir_traits():
    r = _leaf(2.0, wl=VNIR)
    assert r.config == "vnir" and "chlorophyll" in r.nitrogen_basis
    assert r.values["nitrogen_g_m2"] == pytest.approx(2.0, rel=1e-5)
    assert r.values["ewt_g_cm2"] is None and r.values["lma_g_cm2"] is None and r.values["nitrogen_percent"] is None
    assert any("no SWIR" in f for f in r.flags)


def _field(values, **kw):
    return [_leaf(v, name=f"l{i}", **kw) for i, v in enumerate(values)]


def test_reference_strip_deficient_rate_by_hand():
    leaves = _field([1.6] * 12)
    a = advice.advise(leaves, crop="maize", stage="V6", reference_n_g_m2=2.0, n_applied_kg_ha=40)
    # NSI 0.8; remaining 180 - 40 = 140 kg/ha; 140 * sqrt(0.2 / 0.3) = 114.3 -> 115 (5 kg steps)
    assert a.status == "deficient" and a.method == "reference_strip"
    assert a.sufficiency_index == pytest.approx(0.8, rel=1e-5)
    assert a.rate_kg_ha == 115.0 and a.headline == "Top-dress 115 kg N/ha"
    assert any("Holland" in s for s in a.sources) and any("Varvel" in s for s in a.sources)
    assert json.loads(json.dumps(a.to_dict()))["rate_kg_ha"] == 115.0


def test_rate_is_capped_per_application():
    a = advice.advise(_field([1.6] * 12), crop="maize", stage="V6", reference_n_g_m2=2.0)
    assert a.rate_kg_ha == 120.0  # 180 * 0.816 = 147 -> maize cap 120 kg N/ha
    assert any("capped at 120" in s for s in a.assumptions)


def test_sufficient_field_needs_no_application():
    a = advice.advise(_field([2.05] * 12), crop="wheat", stage="tillering", reference_n_g_m2=2.0)
    assert a.status == "sufficient" and a.rate_kg_ha == 0.0 and a.headline.startswith("No application needed")


def test_small_deficit_is_not_worth_a_pass():
    a = advice.advise(_field([1.8] * 12), crop="maize", stage="V10", reference_n_g_m2=2.0, n_applied_kg_ha=160)
    # remaining 20 kg/ha, NSI 0.9: 20 * sqrt(0.1/0.3) = 11.5 kg/ha < 15 kg/ha minimum
    assert a.status == "sufficient" and a.rate_kg_ha == 0.0


def test_too_late_stage_records_the_deficit_without_rate():
    a = advice.advise(_field([1.5] * 12), crop="maize", stage="R2", reference_n_g_m2=2.0)
    assert a.status == "too_late" and a.rate_kg_ha == 0.0


def test_sufficiency_range_without_reference():
    # 1.5 g N/m2 in leaves of 50 g/m2 = 3.0 %: below maize V6's 3.5 % -> SI 0.857
    a = advice.advise(_field([1.5] * 12), crop="maize", stage="V6")
    assert a.method == "sufficiency_range" and a.status == "deficient"
    assert a.mean_n_percent == pytest.approx(3.0, rel=1e-4)
    assert a.sufficiency_index == pytest.approx(3.0 / 3.5, rel=1e-4)
    assert a.rate_kg_ha == 120.0  # 180 * sqrt(0.143 / 0.3) = 124 -> cap
    assert any("reference strip is more reliable" in m for m in a.messages)


def test_vnir_without_reference_cannot_advise_but_with_reference_can():
    leaves = _field([1.5] * 12, wl=VNIR)
    a = advice.advise(leaves, crop="maize", stage="V6")
    assert a.status == "unknown" and a.rate_kg_ha == 0.0 and "reference strip" in a.headline
    b = advice.advise(leaves, crop="maize", stage="V6", reference_n_g_m2=2.0)
    assert b.status == "deficient" and any("chlorophyll" in m for m in b.messages)


def test_few_leaves_and_borderline_are_said():
    a = advice.advise(_field([1.85, 2.05, 1.9]), crop="rice", stage="tillering", reference_n_g_m2=2.0)
    assert any("only 3 leaves" in m for m in a.messages)
    assert a.sufficiency_interval[0] < 0.95 < a.sufficiency_interval[1]
    assert any("borderline" in m for m in a.messages)


def test_invalid_advice_inputs():
    with pytest.raises(ConfigError, match="crop must be one of"):
        advice.advise([], crop="banana", stage="V6")
    with pytest.raises(ConfigError, match="stage for maize"):
        advice.advise([], crop="maize", stage="heading")
    with pytest.raises(InvalidInputError):
        advice.advise([], crop="maize", stage="V6", reference_n_g_m2=-1.0)
    assert advice.advise([], crop="maize", stage="V6").status == "unknown"


def test_agronomy_table_is_data_with_sources():
    table = advice.agronomy_table()
    assert table["method"]["nsi_threshold"] == 0.95
    for crop in table["crops"].values():
        for stage in crop["stages"].values():
            src = stage.get("source")
            assert src is None or src in table["sources"]


def test_leaf_result_says_which_part_of_its_n_sigma_all_leaves_of_a_species_share():
    from edgeinv.apps.leaf_nitrogen.interpret import SHARED_REL_SD

    leaf = _leaf(2.0)
    d = leaf.to_dict()
    rel = d["nitrogen_g_m2_std"] / d["nitrogen_g_m2"]
    assert d["nitrogen_shared_rel_sd"] == pytest.approx(min(SHARED_REL_SD, rel)) and 0 < d["nitrogen_shared_rel_sd"] <= rel
