"""Alarm aggregation: windows, counts, capped entity lists, update events."""

from __future__ import annotations

from misthook.domain import alarm_rules
from misthook.domain.alarm_defs import ALARM_DEFS_BY_KEY
from misthook.domain.alarm_rules import Incident

DOWN = ALARM_DEFS_BY_KEY["device_down"]


def _down(mac: str, at: float, site: str = "s1") -> Incident:
    return Incident("device_down", site, at, {"aps": [mac], "hostnames": [f"AP-{mac}"]})


def test_open_alarm_counts_and_lists_its_incidents() -> None:
    """Two incidents open one alarm: count 2, both APs and hostnames, first/last times."""
    alarm = alarm_rules.open_alarm(
        DOWN,
        alarm_id="a1",
        org_id="o",
        site_name="HQ",
        incidents=[_down("m1", 10), _down("m2", 12)],
    )
    assert alarm["count"] == 2 and alarm["aps"] == ["m1", "m2"]
    assert alarm["hostnames"] == ["AP-m1", "AP-m2"]
    assert (alarm["timestamp"], alarm["last_seen"]) == (10, 12)
    assert (alarm["group"], alarm["severity"], alarm["site_name"]) == (
        "infrastructure",
        "warn",
        "HQ",
    )


def test_entities_are_deduplicated_and_capped_at_ten() -> None:
    """Repeated values are kept once; no list grows past ENTITIES_MAX; count keeps going."""
    incidents = [_down(f"m{i % 15}", float(i)) for i in range(30)]
    alarm = alarm_rules.open_alarm(
        DOWN, alarm_id="a", org_id="o", site_name="", incidents=incidents
    )
    assert alarm["count"] == 30
    assert len(alarm["aps"]) == alarm_rules.ENTITIES_MAX == 10
    assert len(set(alarm["aps"])) == 10


def test_fold_leaves_the_input_unchanged() -> None:
    """fold returns a new document; the stored one is not mutated."""
    alarm = alarm_rules.open_alarm(
        DOWN, alarm_id="a", org_id="o", site_name="", incidents=[_down("m1", 1)]
    )
    folded = alarm_rules.fold(alarm, [_down("m2", 5)])
    assert alarm["count"] == 1 and alarm["aps"] == ["m1"]
    assert folded["count"] == 2 and folded["aps"] == ["m1", "m2"] and folded["last_seen"] == 5


def test_window_bounds() -> None:
    """An incident belongs to the window from the first incident for window_s, not after."""
    alarm = {"timestamp": 100.0}
    assert alarm_rules.in_window(alarm, 100.0, 60)
    assert alarm_rules.in_window(alarm, 159.9, 60)
    assert not alarm_rules.in_window(alarm, 160.0, 60)
    assert not alarm_rules.in_window(alarm, 99.0, 60)


def test_group_by_key_sorts_by_time_per_site_and_type() -> None:
    """Incidents group per (site, type) in time order."""
    groups = alarm_rules.group_by_key([_down("b", 5), _down("a", 1), _down("c", 3, site="s2")])
    assert [i.at for i in groups[("s1", "device_down")]] == [1, 5]
    assert list(groups) == [("s1", "device_down"), ("s2", "device_down")]


def test_webhook_event_carries_update_only_on_increments() -> None:
    """The first event has no update flag; an increment has update: true, same id."""
    alarm = alarm_rules.open_alarm(
        DOWN, alarm_id="a9", org_id="o", site_name="HQ", incidents=[_down("m1", 1)]
    )
    first = alarm_rules.webhook_event(alarm, DOWN["fields"], update=False)
    assert "update" not in first and "acked" not in first and first["aps"] == ["m1"]
    later = alarm_rules.webhook_event(
        alarm_rules.fold(alarm, [_down("m2", 2)]), DOWN["fields"], update=True
    )
    assert later["id"] == "a9" and later["update"] is True and later["count"] == 2
