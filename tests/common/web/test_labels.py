"""Human words for result codes (issue 11: no inner_race, iso10816-3:group2-rigid, teacher_fp32 on pages)."""

import pytest

from edgeinv.common.web.labels import ALARM_MEANINGS, alarm_meaning, human


@pytest.mark.parametrize("code, words", [
    ("inner_race", "inner race defect"), ("teacher_fp32", "full model"), ("student_int8", "small model (8-bit)"),
    ("iso10816-3:group2-rigid", "ISO 10816-3, group 2 (medium machines, 15-300 kW), rigid foundation"),
    ("iso10816-1:class-III", "ISO 10816-1, class III"), ("low_confidence", "model unsure"),
    ("budget_spent", "deficient, N budget spent"), ("some_new_code", "some new code"), (None, "–"), (True, "yes"),
])
def test_codes_become_words(code, words):
    assert human(code) == words
    assert "_" not in human(code)


def test_every_alarm_level_has_a_meaning():
    from edgeinv.apps.bearing_wear.interpret import LEVELS
    assert set(LEVELS) == set(ALARM_MEANINGS) and all(alarm_meaning(lv) for lv in LEVELS)
    assert alarm_meaning("nonsense") == ""
