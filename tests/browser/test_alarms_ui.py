"""Alarms and device events in the browser: a real `device_down` alarm (an AP stops its
heartbeats) is acked and unacked from the Alarms page, and the Device Events page lists
the AP's lifecycle."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from misthook.testing.client import ApiClient
from misthook.testing.server import ServerProcess, init_database
from tests.browser.conftest import PASSWORD, shoot, sign_in

pytestmark = pytest.mark.browser

AP = {"mac": "5c5b35000abc", "model": "AP43", "serial": "S1", "name": "Lobby AP"}


@pytest.fixture(scope="module")
def down_alarm(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str], dict[str, Any]]]:
    """A server where one AP connected and then went silent: a `device_down` alarm."""
    tmp = tmp_path_factory.mktemp("alarms")
    database = str(tmp / "misthook.db")
    env = {
        "MISTHOOK_ADMIN_PASSWORD": PASSWORD,
        "MISTHOOK_DISCONNECT_AFTER_S": "1",
        "MISTHOOK_MONITOR_INTERVAL_S": "0.2",
    }
    ids = init_database(database, env)
    proc = ServerProcess(database, tmp, env=env).start()
    try:
        api = ApiClient(proc.base_url, ids["token"])
        org, site = ids["org_id"], ids["site_id"]
        added = api.post(f"/api/v1/orgs/{org}/inventory", [AP]).json()["inventory_added"]
        api.put(
            f"/api/v1/orgs/{org}/inventory", {"op": "assign", "site_id": site, "macs": [AP["mac"]]}
        )
        agent = ApiClient(proc.base_url)
        answer = agent.post(
            "/api/v1/agent/connect",
            {"mac": AP["mac"], "secret": added[0]["agent_secret"], "uptime": 5, "version": "1"},
        )
        assert answer.status == 200, answer.body
        deadline = time.monotonic() + 15
        alarms: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not alarms:
            found = api.get(f"/api/v1/sites/{site}/alarms/search?type=device_down").json()
            alarms = found["results"]
            time.sleep(0.1)
        assert alarms, "no device_down alarm was raised"
        yield proc, ids, alarms[0]
    finally:
        proc.stop()


def test_ack_and_unack_an_alarm(
    down_alarm: tuple[ServerProcess, dict[str, str], dict[str, Any]], browser: Browser
) -> None:
    """Select the alarm, ack it with a note (the API then shows it acked by the admin),
    then unack it."""
    proc, ids, alarm = down_alarm
    api = ApiClient(proc.base_url, ids["token"])
    search = f"/api/v1/sites/{ids['site_id']}/alarms/search?type=device_down"
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, proc.base_url)
    page.goto(f"{proc.base_url}/sites/{ids['site_id']}/alarms")
    row = page.locator("#alarms tbody tr", has_text="device_down")
    expect(row).to_contain_text("no")
    row.locator("input[name=ids]").check()
    page.fill("#alarms-form input[name=note]", "cable pulled on purpose")
    page.click("#alarms-form button[value=ack]")
    expect(page.locator("#alarms tbody tr", has_text="device_down")).to_contain_text("yes")
    shoot(page, "alarms-acked")
    acked = api.get(search).json()["results"][0]
    assert acked["id"] == alarm["id"]
    assert acked["acked"] is True
    assert acked["note"] == "cable pulled on purpose"
    assert acked["ack_admin_name"]

    page.locator("#alarms tbody tr", has_text="device_down").locator("input[name=ids]").check()
    page.click("#alarms-form button[value=unack]")
    expect(page.locator("#alarms tbody tr", has_text="device_down")).not_to_contain_text("yes")
    assert api.get(search).json()["results"][0]["acked"] is False
    logs = api.get(f"/api/v1/orgs/{ids['org_id']}/logs?message=larm").json()["results"]
    assert len(logs) >= 2  # ack and unack are audited


def test_device_events_page_lists_the_lifecycle(
    down_alarm: tuple[ServerProcess, dict[str, str], dict[str, Any]], browser: Browser
) -> None:
    """The site's Device Events page shows the AP's claim, connect and disconnect, and
    filters by type."""
    proc, ids, _ = down_alarm
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    sign_in(page, proc.base_url)
    page.goto(f"{proc.base_url}/sites/{ids['site_id']}/device_events")
    for kind in ("AP_ASSIGNED", "AP_CONNECTED", "AP_DISCONNECTED"):
        expect(page.locator("body")).to_contain_text(kind)
    shoot(page, "device-events")
    page.goto(f"{proc.base_url}/sites/{ids['site_id']}/device_events?type=AP_CONNECTED")
    expect(page.locator("body")).not_to_contain_text("AP_DISCONNECTED")
