"""The phone against a server it cannot reach, one that refuses a photo, one that asks to wait.

The unreachable server is a real TCP proxy in front of the live app that, once switched to
"drop", reads each request and closes the connection without an answer (what a dead upstream
behind a captive Wi-Fi looks like to the phone: it thinks it is online).
"""
from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


class DroppingProxy:
    """Forwards to ``target`` while up; when down, reads each request line and hangs up."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.up = True
        self.dropped: list[str] = []  # request lines received while down
        self.open: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def go_down(self):
        self.up = False
        with self.lock:  # keep-alive connections from before must not carry on
            for s in list(self.open):
                self._close(s)

    def go_up(self):
        self.up = True

    @staticmethod
    def _close(s):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        if not self.up:
            data = b""
            client.settimeout(5)
            try:
                while b"\r\n" not in data:
                    chunk = client.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            if data:
                self.dropped.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
            self._close(client)
            return
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        with self.lock:
            self.open.update({client, upstream})

        def pipe(a, b):
            try:
                while chunk := a.recv(65536):
                    b.sendall(chunk)
            except OSError:
                pass
            finally:
                with self.lock:
                    self.open.discard(a)
                    self.open.discard(b)
                self._close(a)
                self._close(b)

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def stop(self):
        self.sock.close()
        self.go_down()


@pytest.fixture
def proxy(live_server):
    p = DroppingProxy(live_server.server.server_port)
    yield p
    p.stop()


def _sign_in(page, base):
    from server.demo import demo_id

    page.goto(base + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_selector(f"[data-testid='inspection-{demo_id('inspection:final:B')}']")
    _synced(page)


def _synced(page, timeout=30_000):
    page.wait_for_function("() => { const s = window.lineside?.syncState; return s && !s.running && !s.error"
                           " && s.pending === 0 && s.lastSync; }", timeout=timeout)


def _queue_defect(page, code):
    from server.demo import demo_id

    page.evaluate("""async ([inspection, code]) => {
        const { saveRecord, newId } = await import('/app/lib/store.js');
        const { refreshCounts } = await import('/app/lib/sync.js');
        await saveRecord('defect', newId(), { inspection_id: inspection, code, defect_class: 'minor', count: 1, note: '' });
        await refreshCounts();
        window.lineside.ctx.syncSoon();
    }""", [str(demo_id("inspection:final:B")), code])


# Every trigger the app has, fired over and over: the network "comes back", the page becomes
# visible, the inspector saves, the timer, and the service worker's Background Sync.
_POKE = """() => {
    window.dispatchEvent(new Event('online'));
    document.dispatchEvent(new Event('visibilitychange'));
    window.lineside.ctx.syncSoon();
    window.lineside.syncNow();
    navigator.serviceWorker.ready.then((r) => r.sync && r.sync.register('lineside-sync')).catch(() => {});
}"""


def _server_codes(live_server, prefix):
    from server.extensions import db
    from server.inspect.models import Defect

    with live_server.app.app_context():
        rows = db.session.scalars(select(Defect.code).where(Defect.code.startswith(prefix))).all()
        db.session.remove()
    return sorted(rows)


def test_an_unreachable_server_is_retried_with_backoff_and_said_plainly(live_server, phone, proxy):
    page = phone.new_page()
    _sign_in(page, proxy.url)
    page.wait_for_function("async () => !!(await navigator.serviceWorker.ready).active")
    proxy.go_down()
    _queue_defect(page, "unreachable-")
    started = time.monotonic()
    while time.monotonic() - started < 20:
        page.evaluate(_POKE)
        page.wait_for_timeout(500)
    api_calls = [line for line in proxy.dropped if " /api/" in line]
    # 2 s, 4 s, 8 s, 16 s (each jittered down to half): at most 5 attempts of one request each in
    # 20 s, whatever fires; the app used to send hundreds.
    assert 1 <= len(api_calls) <= 6, api_calls
    error = page.get_by_test_id("sync-error")
    expect(error).to_have_text(re.compile(r"^Can't reach the server since \d{1,2}:\d{2}( [AP]M)? — your work is safe on this phone\.$"), timeout=15_000)
    expect(page.locator("sync-status button")).to_have_text("Sync now", timeout=15_000)  # not "Syncing…" forever
    assert page.evaluate("() => window.lineside.syncState.pending") == 1
    page.reload()  # after a restart the back-off and the message are still there
    expect(page.get_by_test_id("sync-error")).to_contain_text("Can't reach the server since", timeout=15_000)
    assert len([line for line in proxy.dropped if " /api/" in line]) <= len(api_calls) + 1
    proxy.go_up()
    page.locator("sync-status button").click()  # the inspector may always try at once
    _synced(page)
    assert _server_codes(live_server, "unreachable-") == ["unreachable-"]
    expect(page.get_by_test_id("sync-error")).to_be_hidden(timeout=15_000)


def test_retry_after_is_honoured(live_server, phone):
    page = phone.new_page()
    _sign_in(page, live_server.url)
    calls = []

    def push(route):
        calls.append(time.monotonic())
        if len(calls) == 1:
            route.fulfill(status=503, headers={"Retry-After": "6"}, content_type="application/problem+json",
                          body=json.dumps({"status": 503, "code": "unavailable", "title": "busy"}))
        else:
            route.continue_()

    page.route("**/api/v1/sync/push", push)
    _queue_defect(page, "retry-after-")
    page.wait_for_function("() => !!window.lineside.syncState.error", timeout=10_000)
    expect(page.get_by_test_id("sync-error")).to_contain_text("The server is busy", timeout=15_000)
    for _ in range(8):
        page.evaluate(_POKE)
        page.wait_for_timeout(500)
    _synced(page, timeout=15_000)
    assert len(calls) >= 2 and calls[1] - calls[0] >= 5.5  # not before the server said


def test_a_photo_the_server_refuses_is_not_retried_and_shown_as_a_problem(live_server, phone):
    from server.demo import demo_id

    page = phone.new_page()
    _sign_in(page, live_server.url)
    refused = []

    def upload(route):
        refused.append(route.request.url)
        route.fulfill(status=422, content_type="application/problem+json",
                      body=json.dumps({"status": 422, "code": "too_large", "title": "Unprocessable",
                                       "detail": "the photo is larger than 25 MB"}))

    page.route("**/api/v1/blobs/*/upload", upload)
    inspection = str(demo_id("inspection:final:B"))
    data = bytes([0xFF, 0xD8, 0xFF, 0xD9]) * 64
    page.evaluate("""async ([inspection, sha, bytes]) => {
        const { saveRecord, newId } = await import('/app/lib/store.js');
        const { refreshCounts } = await import('/app/lib/sync.js');
        const id = newId();
        const blob = new Blob([new Uint8Array(bytes)], { type: 'image/jpeg' });
        await saveRecord('photo', id, { inspection_id: inspection, item_key: 'unit_photo', sha256: sha,
          size_bytes: blob.size, content_type: 'image/jpeg' }, { photo: { id, inspection_id: inspection, blob, thumb: blob,
          sha256: sha, size: blob.size, type: 'image/jpeg', state: 'pending', created_at: Date.now() } });
        await refreshCounts();
        window.lineside.ctx.syncSoon();
    }""", [inspection, hashlib.sha256(data).hexdigest(), list(data)])
    page.wait_for_function("() => window.lineside.syncState.photosFailed === 1", timeout=15_000)
    for _ in range(16):  # every trigger, for 8 s: the refused photo is not sent again
        page.evaluate(_POKE)
        page.wait_for_timeout(500)
    assert len(refused) == 1
    assert page.evaluate("() => window.lineside.syncState.photosPending") == 0
    expect(page.get_by_test_id("sync-pending")).not_to_contain_text("photo")
    page.goto(live_server.url + f"/#/inspection/{inspection}")
    problem = page.get_by_test_id("photo-problem")
    expect(problem).to_have_text("The server refused this photo: the photo is larger than 25 MB", timeout=15_000)
    expect(page.get_by_test_id("photo-state")).to_have_text("Refused by the server", timeout=15_000)
    page.get_by_role("button", name="Try again").click()  # the inspector decides to try again
    for _ in range(40):
        if len(refused) == 2:
            break
        page.wait_for_timeout(250)
    assert len(refused) == 2
    expect(problem).to_be_visible(timeout=15_000)


def test_the_network_coming_back_shortens_a_long_network_back_off_but_not_retry_after(live_server, phone):
    page = phone.new_page()
    _sign_in(page, live_server.url)
    page.route("**/api/v1/sync/push", lambda route: route.abort("connectionreset"))
    _queue_defect(page, "online-again-")
    page.wait_for_function("() => window.lineside.syncState.error?.key === 'sync.error.unreachable'", timeout=15_000)
    page.unroute("**/api/v1/sync/push")
    # As after many failures: the next try 5 minutes away, the last one 20 s ago.
    set_backoff = """async (key) => {
        const { kvGet, kvSet } = await import('/app/lib/db.js');
        const b = await kvGet('sync_backoff');
        await kvSet('sync_backoff', { ...b, nextAt: Date.now() + 300000, at: Date.now() - 20000,
          error: { ...b.error, key } });
    }"""
    page.evaluate(set_backoff, "sync.error.busy")  # the server said Retry-After: the online event waits
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(3000)
    assert _server_codes(live_server, "online-again-") == []
    page.evaluate(set_backoff, "sync.error.unreachable")
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    _synced(page)
    assert _server_codes(live_server, "online-again-") == ["online-again-"]
