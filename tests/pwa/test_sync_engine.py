"""The phone's sync engine against the real server, with failures injected at the network.

Each test queues changes through the app's own store (lib/store.js), then syncs.
"""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def page(live_server, phone):
    """A signed-in inspector with the demo downloaded."""
    from server.demo import demo_id

    page = phone.new_page()
    page.goto(live_server.url + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_selector(f"[data-testid='inspection-{demo_id('inspection:final:B')}']")
    _synced(page)
    return page


def _synced(page, timeout=20_000):
    page.wait_for_function("() => { const s = window.lineside?.syncState; return s && !s.running && !s.error"
                           " && s.pending === 0 && s.lastSync; }", timeout=timeout)


def _sync(page):
    """Start a sync unless one is running (Background Sync may have started one already)."""
    page.evaluate("() => { window.lineside.syncNow(); }")


def _queue_defects(page, codes, defect_class="minor"):
    from server.demo import demo_id

    return page.evaluate("""async ([inspection, codes, cls]) => {
        const { saveRecord, newId } = await import('/app/lib/store.js');
        const { refreshCounts } = await import('/app/lib/sync.js');
        const ids = [];
        for (const code of codes) {
          const id = newId();
          ids.push(id);
          await saveRecord('defect', id, { inspection_id: inspection, code, defect_class: cls, count: 1, note: '' });
        }
        await refreshCounts();
        return ids;
    }""", [str(demo_id("inspection:final:B")), codes, defect_class])


def _server_codes(live_server, prefix):
    from server.extensions import db
    from server.inspect.models import Defect

    with live_server.app.app_context():
        rows = db.session.scalars(select(Defect.code).where(Defect.code.startswith(prefix))).all()
        db.session.remove()
    return sorted(rows)


def _problem(route, status, code, detail="injected"):
    route.fulfill(status=status, content_type="application/problem+json",
                  body=json.dumps({"status": status, "code": code, "title": code, "detail": detail}))


def test_a_batch_over_the_size_limit_is_split(live_server, page):
    sizes = []

    def push(route):
        n = len(json.loads(route.request.post_data)["mutations"])
        sizes.append(n)
        if n > 1:
            _problem(route, 413, "payload_too_large")
        else:
            route.continue_()

    page.route("**/api/v1/sync/push", push)
    _queue_defects(page, ["split-a", "split-b", "split-c"])
    _sync(page)
    _synced(page)
    assert _server_codes(live_server, "split-") == ["split-a", "split-b", "split-c"]
    assert sizes[:3] == [3, 2, 1]


def test_a_rejected_change_leaves_the_outbox_and_is_shown(live_server, page):
    from server.demo import demo_id

    _queue_defects(page, ["bad-class"], defect_class="cosmetic")
    _sync(page)
    _synced(page)
    assert _server_codes(live_server, "bad-class") == []
    local = page.evaluate("async () => (await window.lineside.getAll('records')).map((r) => r.fields.code)")
    assert "bad-class" not in local  # the phone shows the server's truth; the reason is listed
    expect(page.get_by_test_id("sync-pending")).to_have_text("All changes synced")
    page.goto(live_server.url + f"/#/inspection/{demo_id('inspection:final:B')}")
    expect(page.get_by_test_id("issue")).to_contain_text("Rejected: defect")


def test_an_expired_session_asks_to_sign_in_and_keeps_the_outbox(live_server, page):
    page.route("**/api/v1/sync/push", lambda route: _problem(route, 401, "unauthenticated"))
    _queue_defects(page, ["after-401"])
    _sync(page)
    expect(page.get_by_test_id("sync-error")).to_contain_text("Sign in again")
    page.wait_for_url("**/#/signin")
    assert page.evaluate("() => window.lineside.syncState.pending") == 1
    page.unroute("**/api/v1/sync/push")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    _synced(page)
    assert _server_codes(live_server, "after-401") == ["after-401"]


def test_a_busy_server_is_retried_without_the_user(live_server, page):
    calls = []

    def push(route):
        calls.append(1)
        if len(calls) == 1:
            _problem(route, 503, "unavailable")
        else:
            route.continue_()

    page.route("**/api/v1/sync/push", push)
    _queue_defects(page, ["after-503"])
    _sync(page)
    _synced(page, timeout=15_000)  # the backoff timer (or Background Sync) retries
    assert _server_codes(live_server, "after-503") == ["after-503"]
    assert len(calls) >= 2


def test_an_outdated_app_is_asked_to_update(live_server, page):
    page.route("**/api/v1/sync/push", lambda route: _problem(route, 409, "protocol_outdated"))
    _queue_defects(page, ["outdated"])
    _sync(page)
    expect(page.get_by_test_id("sync-error")).to_contain_text("Please update")
    assert page.evaluate("() => window.lineside.syncState.pending") == 1


def test_must_resync_pulls_from_the_start_and_keeps_local_changes(live_server, page):
    pulls = []

    def pull(route):
        url = route.request.url
        pulls.append("cursor=" in url)
        if "cursor=" in url and len(pulls) == 1:
            route.fulfill(status=410, content_type="application/problem+json",
                          body=json.dumps({"status": 410, "code": "gone", "must_resync": True}))
        else:
            route.continue_()

    page.route("**/api/v1/sync/pull*", pull)
    page.route("**/api/v1/sync/push", lambda route: _problem(route, 503, "unavailable"))
    _queue_defects(page, ["kept-local"])
    page.evaluate("""async () => {  // a row of an inspection since taken away from this inspector
        const { tx } = await import('/app/lib/db.js');
        await tx(['records'], 'readwrite', (t) => t.objectStore('records').put({ key: 'inspection:gone',
          entity: 'inspection', id: 'gone', rev: 1, deleted: false, fields: {}, inspection_id: 'gone' }));
    }""")
    page.unroute("**/api/v1/sync/push")
    _sync(page)
    _synced(page)
    assert pulls[:2] == [True, False]  # the 410, then from no cursor
    assert _server_codes(live_server, "kept-local") == ["kept-local"]
    records = page.evaluate("async () => (await window.lineside.getAll('records')).map((r) => [r.key, r.fields.code])")
    assert [k for k, code in records if code == "kept-local"] != []
    assert "inspection:gone" not in [k for k, _ in records]


def test_the_language_switch_shows_chinese(page):
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Language").select_option("zh-CN")
    expect(page.get_by_role("link", name="检验")).to_be_visible()
    expect(page.get_by_role("button", name="立即同步")).to_be_visible()
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    page.reload()
    expect(page.get_by_role("heading", name="设置")).to_be_visible()


def test_the_api_docs_page_lists_the_api(live_server, phone):
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(live_server.url + "/api/docs")
    page.wait_for_selector("html[data-ready]")
    expect(page.locator("details.op", has_text="/api/v1/auth/login")).to_contain_text("Sign in with email and password")
    assert page.locator("details.op").count() > 10
    assert errors == []


def test_another_user_cannot_sign_in_over_unsynced_work(live_server, page):
    page.route("**/api/v1/sync/push", lambda route: _problem(route, 503, "unavailable"))
    _queue_defects(page, ["not-yours"])
    page.goto(live_server.url + "/#/signin")
    page.get_by_label("Email").fill("reviewer@demo.lineside.test")
    page.get_by_label("Password").fill("demo-reviewer")
    page.locator("#signin button[type=submit]").click()
    expect(page.locator("#signin .form-error")).to_contain_text("1 change and 0 photos of another user")
    session = page.evaluate("async () => (await window.lineside.getAll('kv'))")
    assert "inspector@demo.lineside.test" in str(session) and "reviewer@demo" not in str(session)


def test_a_new_version_waits_for_the_user_then_replaces_the_old_cache(live_server, page):
    from pathlib import Path

    page.wait_for_function("async () => !!(await navigator.serviceWorker.ready).active"
                           " && !!navigator.serviceWorker.controller")
    sw = (Path(__file__).resolve().parents[2] / "pwa" / "sw.js").read_text()
    new = sw.replace("const VERSION = '", "const VERSION = 'next-", 1).encode()
    served = live_server.server.app

    def next_release(environ, start_response):  # the server now ships a new sw.js
        if environ["PATH_INFO"] == "/sw.js":
            start_response("200 OK", [("Content-Type", "text/javascript"), ("Cache-Control", "no-cache"),
                                      ("Service-Worker-Allowed", "/")])
            return [new]
        return served(environ, start_response)

    live_server.server.app = next_release
    try:
        page.evaluate("async () => { await (await navigator.serviceWorker.getRegistration()).update(); }")
        prompt = page.get_by_role("button", name="Reload")
        prompt.wait_for()
        before = page.evaluate("() => caches.keys()")
        # The new version is cached and waiting; the running one keeps its cache until the user agrees.
        assert sorted(k.startswith("lineside-shell-next-") for k in before) == [False, True]
        assert page.evaluate("async () => !!(await navigator.serviceWorker.getRegistration()).waiting")
        with page.expect_event("load"):
            prompt.click()
        page.wait_for_function("async () => { const k = await caches.keys();"
                               " return k.length === 1 && k[0].startsWith('lineside-shell-next-'); }")
    finally:
        live_server.server.app = served


def test_background_sync_sends_the_outbox_with_the_app_closed(live_server, phone, page):
    page.wait_for_function("async () => !!(await navigator.serviceWorker.ready).active")
    phone.set_offline(True)
    _queue_defects(page, ["while-closed"])
    page.wait_for_function("async () => (await (await navigator.serviceWorker.ready).sync.getTags())"
                           ".includes('lineside-sync')")
    page.close()
    phone.set_offline(False)  # the browser fires the worker's 'sync' event; no page is open
    for _ in range(40):
        if _server_codes(live_server, "while-closed"):
            break
        time.sleep(0.25)
    assert _server_codes(live_server, "while-closed") == ["while-closed"]


def test_a_rejected_photo_no_longer_waits_to_upload(live_server, page):
    from server.demo import demo_id

    page.evaluate("""async (inspection) => {
        const { saveRecord, newId } = await import('/app/lib/store.js');
        const { refreshCounts } = await import('/app/lib/sync.js');
        const id = newId();
        const blob = new Blob([new Uint8Array([0xff, 0xd8, 0xff, 0xd9])], { type: 'image/jpeg' });
        await saveRecord('photo', id, { inspection_id: inspection, item_key: 'no_such_item', sha256: '0'.repeat(64),
          size_bytes: 4, content_type: 'image/jpeg' }, { photo: { id, inspection_id: inspection, blob, thumb: blob,
          sha256: '0'.repeat(64), size: 4, type: 'image/jpeg', state: 'pending', created_at: Date.now() } });
        await refreshCounts();
    }""", str(demo_id("inspection:final:B")))
    assert page.evaluate("() => window.lineside.syncState.photosPending") == 1
    _sync(page)
    _synced(page)
    assert page.evaluate("() => window.lineside.syncState.photosPending") == 0
    assert page.evaluate("() => window.lineside.syncState.issues") == 1


@pytest.mark.parametrize("view", ["inspections", "inspection", "settings"])
def test_screens_fit_a_360_px_phone_and_label_every_control(live_server, page, view):
    from server.demo import demo_id

    page.set_viewport_size({"width": 360, "height": 740})
    target = {"inspections": "#/inspections", "inspection": f"#/inspection/{demo_id('inspection:final:B')}",
              "settings": "#/settings"}[view]
    page.goto(live_server.url + "/" + target)
    page.wait_for_selector("main h1")
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((el) => !(el.labels?.length || el.getAttribute('aria-label') || (el.tagName === 'BUTTON' && el.textContent.trim())))
        .map((el) => el.outerHTML.slice(0, 80))""")
    assert unlabelled == []


def test_history_diverged_offers_the_phones_records_again_before_pulling_from_the_start(live_server, page):
    """After a restore from a backup the server lost a defect the phone had synced: the phone brings it back."""
    from sqlalchemy import delete, update

    from server.extensions import db
    from server.inspect.models import Defect
    from server.sync import history
    from server.sync.models import SyncCounter

    with live_server.app.app_context():
        fork = db.session.scalar(select(SyncCounter.value))
        db.session.remove()
    _queue_defects(page, ["lost-in-restore"])
    _sync(page)
    _synced(page)
    assert _server_codes(live_server, "lost-in-restore") == ["lost-in-restore"]
    with live_server.app.app_context():  # the restore: the defect is gone, a new history starts at the fork
        db.session.execute(delete(Defect).where(Defect.code == "lost-in-restore"))
        db.session.commit()
        history.rotate(db.session)
        db.session.execute(update(SyncCounter).values(history_started_rev=fork))
        db.session.commit()
        db.session.remove()
    offers = []
    page.on("request", lambda r: offers.extend(m for m in json.loads(r.post_data or "{}").get("mutations", [])
                                               if m.get("reoffer")) if r.url.endswith("/sync/push") else None)
    _sync(page)
    _synced(page)
    assert _server_codes(live_server, "lost-in-restore") == ["lost-in-restore"]
    assert [m["fields"]["code"] for m in offers if m["entity"] == "defect"] == ["lost-in-restore"]
    codes = page.evaluate("async () => (await window.lineside.getAll('records')).map((r) => r.fields.code)")
    assert codes.count("lost-in-restore") == 1
