"""Advice wording that must say what is true (issue 11, bugs 1-3)."""

from __future__ import annotations

import pytest

from edgeinv.apps.leaf_nitrogen import advice
from tests.apps.leaf_nitrogen.test_interpret_advice import _field


def test_large_deficit_with_spent_budget_is_not_called_too_small():
    # bug 1: wheat, stem elongation, reference strip, 200 kg N/ha applied > 180 planned, SI 0.286
    a = advice.advise(_field([0.572] * 12), crop="wheat", stage="stem_elongation", reference_n_g_m2=2.0,
                      n_applied_kg_ha=200)
    assert a.sufficiency_index == pytest.approx(0.286, abs=1e-3)
    assert a.status == "budget_spent" and a.rate_kg_ha == 0.0
    assert "too small" not in a.headline and "No application needed" not in a.headline
    assert "deficient" in a.headline.lower() and "budget" in a.headline and "200 of 180" in a.headline
    assert any(m.startswith("options:") and "n_opt_kg_ha" in m for m in a.messages)
    assert any("80 kg N/ha" in m for m in a.messages)  # the response curve on a full plan, capped for wheat


def test_small_deficit_with_budget_left_is_still_too_small():
    a = advice.advise(_field([1.8] * 12), crop="maize", stage="V10", reference_n_g_m2=2.0, n_applied_kg_ha=160)
    assert a.status == "sufficient" and "too small" in a.headline


def test_reference_strip_upload_is_the_reference_not_a_tabulated_verdict():
    # bug 2: the strip's own upload said "no reference strip: judged against a tabulated range"
    a = advice.advise(_field([2.1] * 12), crop="maize", stage="V6", is_reference=True)
    assert a.status == "reference" and a.method == "reference_strip" and a.rate_kg_ha == 0.0
    assert a.reference_n_g_m2 == pytest.approx(2.1, rel=1e-5)
    assert "Reference strip measured" in a.headline and "No application needed" not in a.headline
    assert not any("no reference strip" in m for m in a.messages)
    assert any("Varvel" in s for s in a.sources)


def test_judged_against_a_strip_never_says_no_strip():
    a = advice.advise(_field([1.6] * 12), crop="maize", stage="V6", reference_n_g_m2=2.0)
    assert a.method == "reference_strip"
    assert not any("no reference strip" in m for m in a.messages)


@pytest.mark.parametrize("values, status, start", [
    ([1.85, 2.05, 2.0, 2.1], "sufficient", "Borderline: probably sufficient"),
    ([1.7, 2.0, 1.75, 1.95], "deficient", "Borderline: top-dress"),
])
def test_headline_says_when_the_interval_spans_the_threshold(values, status, start):
    # bug 3: a green "nitrogen is sufficient" while the notes said the interval spans the threshold
    a = advice.advise(_field(values), crop="maize", stage="V6", reference_n_g_m2=2.0)
    lo, hi = a.sufficiency_interval
    assert lo < 0.95 < hi
    assert a.status == status and a.borderline
    assert a.headline.startswith(start) and "spans the 0.95 threshold" in a.headline
    assert a.to_dict()["borderline"] is True


def test_clear_verdicts_are_not_borderline():
    a = advice.advise(_field([2.05] * 12), crop="wheat", stage="tillering", reference_n_g_m2=2.0)
    assert a.sufficiency_interval[0] > 0.95 and not a.borderline and a.headline == "No application needed: the crop's nitrogen is sufficient"


def test_field_area_gives_the_n_and_product_to_buy():
    a = advice.advise(_field([1.6] * 12), crop="maize", stage="V6", reference_n_g_m2=2.0, n_applied_kg_ha=40,
                      field_area_ha=12.5)
    assert a.rate_kg_ha == 115.0 and a.total_n_kg == pytest.approx(1437.5)
    assert a.product_kg["urea (46 % N)"] == round(1437.5 / 0.46)
    assert advice.advise(_field([2.05] * 12), crop="wheat", stage="tillering", reference_n_g_m2=2.0,
                         field_area_ha=3).product_kg == {}
    with pytest.raises(advice.InvalidInputError, match="field_area_ha"):
        advice.advise(_field([1.6] * 12), crop="maize", stage="V6", field_area_ha=-1)


def test_implausible_leaves_are_flagged_not_hidden():
    a = advice.advise(_field([1.6] * 10 + [9.0, 0.05]), crop="maize", stage="V6", reference_n_g_m2=2.0)
    assert a.implausible_leaves == ["l10", "l11"]
    assert any("outside the plausible range" in m and "l10" in m for m in a.messages)
    assert advice.advise(_field([1.6] * 12), crop="maize", stage="V6").implausible_leaves == []


def test_the_shared_error_does_not_shrink_with_more_leaves():
    """Issue 14: the N error every leaf of one species shares (factor, species-level model error) stays in an absolute
    field mean however many leaves; it cancels in the index against a reference strip."""
    from edgeinv.apps.leaf_nitrogen.interpret import SHARED_REL_SD

    def half(n, **kw):
        return advice.advise(_field([2.0] * n), crop="maize", stage="V6", **kw)

    few, many = half(12), half(2000)
    assert few.method == many.method == "sufficiency_range" and many.sufficiency_index < 1.5  # not capped
    lo, hi = many.sufficiency_interval
    shared = _field([2.0])[0].shared_rel_sd
    assert 0 < shared <= SHARED_REL_SD
    floor = 1.96 * shared * many.sufficiency_index  # (shared x mean N %) / the range's lower bound
    assert (hi - lo) / 2 == pytest.approx(floor, rel=0.02) and (hi - lo) < (few.sufficiency_interval[1] - few.sufficiency_interval[0])
    assert any("more leaves do not shrink it" in m for m in many.messages)
    strip = half(2000, reference_n_g_m2=2.0)  # a ratio of two means of one crop and instrument: the shared part cancels
    assert strip.sufficiency_interval[1] - strip.sufficiency_interval[0] < 0.05
    assert not any("more leaves do not shrink it" in m for m in strip.messages)
