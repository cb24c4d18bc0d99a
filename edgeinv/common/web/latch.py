"""Latched alarms: an alarm stays raised until someone acknowledges it (issue 11).

A technician who sees "Danger" on Monday must still see it on Tuesday, even if Tuesday's recording
happened to look OK (a loose sensor, a machine at idle): the machine's alarm is the worst level of the
results since the last acknowledgement, not the last result's. Acknowledging stores the id of the
newest result seen (``acknowledged_result_id`` in the entity's data), so the level starts again from
what comes after it.
"""

from __future__ import annotations

ACK_KEY = "acknowledged_result_id"


def latched_alarm(rows: list[dict], *, key: str, levels: tuple[str, ...], acknowledged_id: int | None = None) -> dict:
    """The alarm to show for an entity from its history ``rows`` (oldest first, each with ``id``,
    ``measured_at`` and ``key``; unknown or missing levels are skipped).

    Returns ``{"level", "latched", "since_id", "since", "last_level", "last_measured", "unacknowledged"}``:
    ``level`` the worst level after the acknowledged result, ``latched`` True when it is worse than the
    last result's own level (an earlier alarm holds it up), ``since`` when that worst level was measured.
    """
    rank = {lv: i for i, lv in enumerate(levels)}
    after = [r for r in rows if acknowledged_id is None or int(r.get("id", 0)) > int(acknowledged_id)]
    judged = [r for r in after if r.get(key) in rank]
    last = next((r for r in reversed(rows) if r.get(key) in rank), None)
    out = {"level": levels[0], "latched": False, "since_id": None, "since": None,
           "last_level": last.get(key) if last else None, "last_measured": rows[-1].get("measured_at") if rows else None,
           "unacknowledged": len(after)}
    if not judged:
        return out
    worst = max(judged, key=lambda r: (rank[r[key]], -int(r.get("id", 0))))  # the first result at the worst level
    out.update(level=worst[key], since_id=worst.get("id"), since=worst.get("measured_at"))
    out["latched"] = last is not None and rank[worst[key]] > rank[last[key]]
    return out
