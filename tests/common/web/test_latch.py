"""Alarms stay raised until acknowledged (issue 11)."""

from edgeinv.common.web.latch import latched_alarm

LEVELS = ("ok", "watch", "alert", "danger")


def _rows(levels):
    return [{"id": i + 1, "measured_at": f"2026-05-0{i + 1}T08:00:00+00:00", "alarm": lv} for i, lv in enumerate(levels)]


def test_danger_stays_after_a_quiet_recording_until_acknowledged():
    rows = _rows(["ok", "danger", "ok"])
    a = latched_alarm(rows, key="alarm", levels=LEVELS)
    assert a["level"] == "danger" and a["latched"] and a["since_id"] == 2 and a["last_level"] == "ok"
    assert a["since"].startswith("2026-05-02") and a["last_measured"].startswith("2026-05-03")
    b = latched_alarm(rows, key="alarm", levels=LEVELS, acknowledged_id=3)
    assert b["level"] == "ok" and not b["latched"] and b["unacknowledged"] == 0
    c = latched_alarm(rows + _rows(["", "", "", "watch"])[3:], key="alarm", levels=LEVELS, acknowledged_id=3)
    assert c["level"] == "watch" and not c["latched"] and c["unacknowledged"] == 1


def test_no_results_and_unknown_levels():
    assert latched_alarm([], key="alarm", levels=LEVELS)["level"] == "ok"
    a = latched_alarm(_rows(["alert", None, "weird"]), key="alarm", levels=LEVELS)
    assert a["level"] == "alert" and a["last_level"] == "alert" and not a["latched"]
