"""GET /metrics: off without METRICS_TOKEN, refused without it, and the sync figures move."""
from __future__ import annotations

import re

import requests

from tests.sync.support import HttpTransport, SyncClient, gunicorn_server, new_id, response_fields


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in an exposition (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(3))
    return total


def test_metrics_are_off_without_a_token_and_refused_without_it(app, client, monkeypatch):
    assert client.get("/metrics").status_code == 404
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-metrics")
    r = client.get("/metrics")
    assert r.status_code == 401 and r.mimetype == "application/problem+json"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
    assert r.status_code == 200 and "lineside_sync_push_seconds" in r.get_data(as_text=True)


def test_push_and_pull_figures_move(app, client, as_inspector, insp, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-metrics")
    auth = {"Authorization": "Bearer s3cret-metrics"}
    before = client.get("/metrics", headers=auth).get_data(as_text=True)
    phone = SyncClient(client, as_inspector)
    phone.pull_all()
    phone.edit("response", new_id(), **response_fields(insp))
    phone.outbox.append(phone.mutation("defect", new_id(), {"inspection_id": insp, "code": "x",
                                                            "defect_class": "bogus"}))
    phone.push_outbox()
    after = client.get("/metrics", headers=auth).get_data(as_text=True)

    def moved(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("lineside_sync_push_seconds_count") == 1
    assert moved("lineside_sync_pull_seconds_count") >= 1
    assert moved("lineside_sync_pull_changes_sum") >= 1
    assert moved("lineside_sync_mutations_total", outcome="applied") == 1
    assert moved("lineside_sync_mutations_total", outcome="rejected", reason="invalid") == 1


def test_gunicorn_workers_figures_are_added_up(app, database_urls, backend, as_inspector, insp):
    """Two workers, several pushes: /metrics counts them all, whichever worker answered."""
    with gunicorn_server(database_urls[backend], WEB_CONCURRENCY=2, GUNICORN_THREADS=2, SECRET_KEY="metrics-test",
                         METRICS_TOKEN="s3cret-metrics") as (_, base):
        phone = SyncClient(HttpTransport(base), as_inspector)
        for _ in range(6):
            phone.edit("response", new_id(), **response_fields(insp))
            phone.push_outbox()
        text = ""
        for _ in range(4):  # ask every worker: all answer the same sum
            r = requests.get(base + "/metrics", headers={"Authorization": "Bearer s3cret-metrics"}, timeout=30)
            assert r.status_code == 200
            text = r.text
            assert _value(text, "lineside_sync_push_seconds_count") == 6
        assert _value(text, "lineside_sync_mutations_total", outcome="applied") == 6
        assert requests.get(base + "/metrics", timeout=30).status_code == 401
