"""The web UI clicked through in real headless Chromium (Debian's chromium driven by
Playwright) against `misthook serve` as a subprocess with loopback egress closed: a
webhook to the server's own bin still works. Screenshots go to ./artifacts/screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from misthook.testing.client import ApiClient
from misthook.testing.server import ServerProcess, init_database
from tests.browser.conftest import PASSWORD, shoot, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("browser")
    database = str(tmp / "misthook.db")
    env = {"MISTHOOK_EGRESS_ALLOW": "", "MISTHOOK_ADMIN_PASSWORD": PASSWORD}
    ids = init_database(database, env)
    proc = ServerProcess(database, tmp, env=env).start()
    try:
        yield proc, ids
    finally:
        proc.stop()


def test_admin_clicks_through(
    server: tuple[ServerProcess, dict[str, str]], browser: Browser
) -> None:
    """Sign in, make a bin and a site webhook to it with two topics, ping it and see the
    signed ping in the bin, edit the topics (a bad URL first: the error sits by the field),
    see an API change arrive as an `audits` message, delete two webhooks at once, and find
    those changes in the audit log."""
    proc, ids = server
    base = proc.base_url
    api = ApiClient(base, ids["token"])
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.on("dialog", lambda dialog: dialog.accept())

    page.goto(base + "/signin")
    page.fill("#signin-password input[name=email]", "admin@misthook.local")
    page.fill("#signin-password input[name=password]", "wrong")
    page.click("#signin-password button[type=submit]")
    expect(page.locator(".error[data-field=password]")).to_be_visible()
    expect(page.locator("#signin-password input[name=email]")).to_have_value("admin@misthook.local")
    sign_in(page, base)
    shoot(page, "org")

    # a bin, and a site webhook to it with two topics
    page.click("text=Request Bins")
    page.click("#create-bin")
    expect(page.locator("#capture-url")).to_contain_text("/bins/")
    bin_url = page.url
    page.select_option("#bin-webhook select[name=scope]", label="Site Default Site")
    page.fill("#bin-webhook input[name=name]", "bin hook")
    page.fill("#bin-webhook input[name=secret]", "s3cret")
    page.check("#bin-webhook input[value=device-events]")  # audits is checked already
    page.click("#bin-webhook button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/sites/{ids['site_id']}/webhooks$"))
    row = page.locator("tr[data-webhook='bin hook']")
    expect(row).to_contain_text("audits")
    expect(row).to_contain_text("device-events")

    # ping it; the bin shows it with valid signatures under the right secret
    row.locator("button", has_text="Ping").click()
    expect(page.locator(".notice")).to_contain_text("Ping sent")
    page.goto(bin_url)
    page.fill("#bin-secret", "s3cret")
    ping = page.locator("article.bin-request", has_text="webhook event delivery test")
    expect(ping).to_have_count(1, timeout=15_000)
    expect(ping.locator("[data-verdict=x-mist-signature-v2]")).to_have_text(
        "x-mist-signature-v2: valid", timeout=5_000
    )
    page.fill("#bin-secret", "not the secret")
    expect(ping.locator("[data-verdict=x-mist-signature-v2]")).to_have_text(
        "x-mist-signature-v2: INVALID", timeout=5_000
    )
    page.fill("#bin-secret", "s3cret")
    expect(ping.locator("[data-verdict=x-mist-signature]")).to_have_text(
        "x-mist-signature: valid", timeout=5_000
    )
    shoot(page, "bin")

    # edit the topics; a refused URL first keeps what was typed and says why by the field
    page.goto(f"{base}/sites/{ids['site_id']}/webhooks")
    shoot(page, "webhooks")
    page.click("text=bin hook")
    good_url = page.input_value("#webhook-form input[name=url]")
    page.fill("#webhook-form input[name=url]", "ftp://example.com/x")
    page.check("#webhook-form input[value=alarms]")
    page.uncheck("#webhook-form input[value=device-events]")
    page.click("#save-webhook")
    expect(page.locator(".error[data-field=url]")).to_contain_text("scheme")
    expect(page.locator("#webhook-form input[value=alarms]")).to_be_checked()
    expect(page.locator("#webhook-form input[name=name]")).to_have_value("bin hook")
    shoot(page, "webhook-form")
    page.fill("#webhook-form input[name=url]", good_url)
    page.click("#save-webhook")
    row = page.locator("tr[data-webhook='bin hook']")
    expect(row).to_contain_text("alarms")
    expect(row).not_to_contain_text("device-events")

    # an API change arrives in the bin as an audits message
    site_path = f"/api/v1/sites/{ids['site_id']}"
    assert api.put(site_path, {"notes": "changed by the API"}).status == 200
    page.goto(bin_url)
    audit = page.locator("article.bin-request", has_text="changed by the API")
    expect(audit).to_have_count(1, timeout=15_000)
    expect(audit.locator(".tag")).to_have_text("audits")

    # the delivery log shows the ping attempt in full, and resends it
    page.goto(f"{base}/sites/{ids['site_id']}/webhooks")
    page.locator("tr[data-webhook='bin hook']").locator("text=Delivery log").click()
    attempt = page.locator("details.attempt", has_text="ping").first
    expect(attempt).to_contain_text("success 200")
    attempt.locator("summary").click()
    expect(attempt).to_contain_text("X-Mist-Signature-v2")
    shoot(page, "deliveries")
    attempt.locator("button", has_text="Resend").click()
    expect(page.locator("details.attempt", has_text="ping")).to_have_count(2)

    # two more webhooks (one through the form), then delete both at once
    page.goto(f"{base}/sites/{ids['site_id']}/webhooks")
    page.click("#add-webhook")
    page.fill("#webhook-form input[name=name]", "doomed one")
    page.fill("#webhook-form input[name=url]", "https://example.com/one")
    page.check("#webhook-form input[value=audits]")
    page.click("#save-webhook")
    hooks = f"/api/v1/sites/{ids['site_id']}/webhooks"
    two = {"name": "doomed two", "url": "https://example.com/two", "topics": ["alarms"]}
    assert api.post(hooks, two).status == 200
    page.reload()
    for name in ("doomed one", "doomed two"):
        page.locator(f"tr[data-webhook='{name}'] input[name=ids]").check()
    page.click("#delete-selected")
    expect(page.locator("tr[data-webhook='doomed one']")).to_have_count(0)
    expect(page.locator("tr[data-webhook='doomed two']")).to_have_count(0)
    expect(page.locator("tr[data-webhook='bin hook']")).to_have_count(1)

    # the audit log lists those changes
    page.goto(f"{base}/orgs/{ids['org_id']}")
    page.click("text=Audit Logs")
    page.fill("input[name=message]", "Webhook")
    page.click("form.filters button[type=submit]")
    messages = page.locator("#audit-logs td.message")
    for text in (
        'Add Webhook "bin hook"',
        'Update Webhook "bin hook"',
        'Delete Webhook "doomed one"',
        'Delete Webhook "doomed two"',
    ):
        expect(messages.filter(has_text=text)).to_have_count(1)
    expect(page.locator("#audit-logs td.message", has_text="Update Site")).to_have_count(0)
    shoot(page, "audit-logs")

    # alarms and device events pages answer with their filters
    for level, scope_id in (("sites", ids["site_id"]), ("orgs", ids["org_id"])):
        page.goto(f"{base}/{level}/{scope_id}/alarms?duration=7d")
        expect(page.locator("h1")).to_have_text("Alarms")
        expect(page.locator("select[name=acked]")).to_be_visible()
        page.goto(f"{base}/{level}/{scope_id}/device_events?duration=7d")
        expect(page.locator("h1")).to_have_text("Device events")
    page.goto(f"{base}/sites/{ids['site_id']}/alarms?duration=bogus")
    expect(page.locator("p.error")).to_contain_text("invalid duration")
    shoot(page, "alarms")
    page.close()


def test_read_only_sign_in_cannot_change_anything(
    server: tuple[ServerProcess, dict[str, str]], browser: Browser
) -> None:
    """Signed in with a read-only org token: no add, edit, ping, delete or bin buttons, the
    webhook form is disabled, and a forged form post is refused."""
    proc, ids = server
    base = proc.base_url
    api = ApiClient(base, ids["token"])
    hooks = f"/api/v1/sites/{ids['site_id']}/webhooks"
    hook = api.post(
        hooks,
        {
            "name": "watched",
            "url": "https://example.com/w",
            "secret": "hidden",
            "topics": ["audits"],
        },
    )
    assert hook.status == 200
    answer = api.post(
        f"/api/v1/orgs/{ids['org_id']}/apitokens",
        {"name": "reader", "privileges": [{"scope": "org", "role": "read"}]},
    )
    key = answer.json()["key"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(base + "/signin")
    page.fill("#signin-token input[name=token]", key)
    page.click("#signin-token button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Organization: Default Org")

    for path in (f"/sites/{ids['site_id']}/webhooks", f"/orgs/{ids['org_id']}/webhooks"):
        page.goto(base + path)
        expect(page.locator("h1")).to_contain_text("Webhooks")
        expect(page.locator("#add-webhook")).to_have_count(0)
        expect(page.locator("#delete-selected")).to_have_count(0)
        expect(page.locator("button", has_text="Ping")).to_have_count(0)
        expect(page.locator("input[name=ids]")).to_have_count(0)
    page.goto(f"{base}/sites/{ids['site_id']}/webhooks/{hook.json()['id']}")
    expect(page.locator("#webhook-form input[name=name]")).to_be_disabled()
    expect(page.locator("#save-webhook")).to_have_count(0)
    expect(page.locator("#webhook-form input[name=secret]")).to_have_value("********")
    shoot(page, "read-only-webhook")
    page.goto(base + "/requestbins")
    expect(page.locator("#create-bin")).to_have_count(0)

    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    forged = page.request.post(
        f"{base}/sites/{ids['site_id']}/webhooks/delete",
        form={"csrf": csrf, "ids": hook.json()["id"]},
    )
    assert forged.status == 403
    assert api.get(f"{hooks}/{hook.json()['id']}").status == 200
    no_csrf = page.request.post(f"{base}/requestbins", form={"name": "x"})
    assert no_csrf.status == 403
    page.close()
