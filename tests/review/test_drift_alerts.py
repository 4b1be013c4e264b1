"""Drift alerts per batch and standard: opened once, named, acknowledged, resolved; charts."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from server.demo import DEMO_LAB
from server.extensions import db
from server.review.models import DriftAlert
from tests.review.conftest import add_photo, darkening_series, run_drift


def _alerts(**where):
    q = select(DriftAlert)
    for k, v in where.items():
        q = q.where(getattr(DriftAlert, k) == v)
    return db.session.scalars(q).all()


def test_darkening_batch_opens_one_colour_alert_that_names_the_direction(demo):
    run_drift(demo, darkening_series())
    alerts = _alerts(kind="colour", rule="ewma")
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.status == "open" and alert.level == "alarm"
    assert alert.batch_id == demo("batch:A") and alert.standard_id == demo("colour:sage")
    assert "darker" in alert.direction and "yellower" in alert.direction
    assert alert.direction in alert.message


def test_steady_batch_raises_no_alarm_and_leaves_nothing_open(demo):
    run_drift(demo, darkening_series(n_baseline=40, n_drift=0))
    assert [a for a in _alerts() if a.level == "alarm"] == []
    assert _alerts(open_slot="open") == []


def test_alert_resolves_itself_when_the_process_is_back_in_control(demo):
    series = darkening_series()
    run_drift(demo, series)
    assert _alerts(kind="colour", status="open")
    back = [[v + 0.05 * ((i % 3) - 1) for v in DEMO_LAB] for i in range(30)]
    run_drift(demo, back, start_sequence=len(series) + 1)
    colour = _alerts(kind="colour")
    assert colour and all(a.status == "resolved" and a.open_slot is None and a.resolved_at for a in colour)


def test_database_refuses_a_second_open_alert_for_the_same_rule(demo):
    from sqlalchemy.exc import IntegrityError

    common = dict(brand_id=demo("org:brand"), batch_id=demo("batch:A"), kind="colour",
                  standard_id=demo("colour:sage"), standard_name="Sage green", rule="ewma", level="warning",
                  open_slot="open")
    db.session.add(DriftAlert(**common))
    db.session.commit()
    db.session.add(DriftAlert(**common))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    db.session.add(DriftAlert(**{**common, "open_slot": None, "status": "resolved"}))
    db.session.commit()  # resolved alerts do not take the slot


def test_an_alert_opened_concurrently_is_kept_not_duplicated(demo, monkeypatch):
    from server.review import service

    run_drift(demo, darkening_series(n_drift=0))
    # Another worker opened the alarm first: our reconcile still sees no open alert, tries to insert.
    db.session.add(DriftAlert(brand_id=demo("org:brand"), batch_id=demo("batch:A"), kind="colour",
                              standard_id=demo("colour:sage"), standard_name="Sage green", rule="ewma",
                              level="alarm", open_slot="open"))
    db.session.commit()
    real = service.drift_stats.reconcile_alerts
    monkeypatch.setattr(service.drift_stats, "reconcile_alerts", lambda now, _open: real(now, []))
    run_drift(demo, darkening_series()[20:], start_sequence=21)
    assert len(_alerts(kind="colour", rule="ewma", open_slot="open")) == 1


def test_reviewer_acknowledges_an_alert_and_it_stays_in_the_feed(client, as_reviewer, demo):
    run_drift(demo, darkening_series())
    feed = client.get("/api/v1/review/alerts?status=active", headers=as_reviewer).get_json()
    assert [a["kind"] for a in feed].count("colour") >= 1
    alert_id = next(a["id"] for a in feed if a["kind"] == "colour")
    r = client.post(f"/api/v1/review/alerts/{alert_id}/acknowledge", headers=as_reviewer, json={"note": "on it"})
    assert r.status_code == 200
    assert r.get_json()["status"] == "acknowledged" and r.get_json()["acknowledge_note"] == "on it"
    again = client.get("/api/v1/review/alerts?status=active", headers=as_reviewer).get_json()
    assert alert_id in [a["id"] for a in again]


def test_inspector_may_not_see_or_acknowledge_alerts(client, as_inspector, demo):
    run_drift(demo, darkening_series())
    alert = _alerts(kind="colour")[0]
    assert client.get("/api/v1/review/alerts", headers=as_inspector).status_code == 403
    assert client.post(f"/api/v1/review/alerts/{alert.id}/acknowledge", headers=as_inspector,
                       json={}).status_code == 403


def test_dimension_drift_raises_its_own_alert_getting_longer(demo):
    from server.review.service import on_photo_analysed

    for i in range(45):
        length = 120.0 + (0.02 * ((i * 7) % 5 - 2)) + (0.06 * (i - 19) if i >= 20 else 0.0)
        on_photo_analysed(add_photo(demo("inspection:inline:A"), lab=DEMO_LAB, length_mm=length, sequence=i + 1))
    alerts = _alerts(kind="dimension", standard_id=demo("spec:length"))
    assert alerts and all(a.status == "open" for a in alerts)
    assert any("longer" in a.direction for a in alerts)


def test_drift_json_gives_series_and_a_signed_svg_link_for_img(client, as_reviewer, demo):
    run_drift(demo, darkening_series())
    r = client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift", headers=as_reviewer)
    assert r.status_code == 200
    colour = next(s for s in r.get_json()["series"] if s["kind"] == "colour")
    assert colour["status"] == "ok" and "ewma" in colour["active"]
    assert len(colour["points"]) == 45 and colour["points"][-1]["dL"] < 0
    svg = client.get(colour["svg_url"])  # no bearer header, like <img>
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.get_data(as_text=True).lstrip().startswith("<svg") and "LOT-A" in svg.get_data(as_text=True)


def test_chart_link_for_another_batch_or_tampered_is_refused(client, as_reviewer, demo):
    run_drift(demo, darkening_series(n_drift=0))
    url = client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift",
                     headers=as_reviewer).get_json()["series"][0]["svg_url"]
    token = url.split("token=")[1].split("&")[0]
    other = f"/api/v1/review/batches/{demo('batch:B')}/drift.svg?token={token}"
    assert client.get(other).status_code == 404
    assert client.get(url.replace(token, token[:-2] + "xx")).status_code == 404
    assert client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift.svg").status_code == 401


def test_chart_link_expires(client, as_reviewer, demo, app):
    url = client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift",
                     headers=as_reviewer).get_json()["series"][0]["svg_url"]
    app.config["DRIFT_CHART_URL_TTL_SECONDS"] = -1
    assert client.get(url).status_code == 404


def test_another_brands_reviewer_gets_404_for_drift_and_alerts(client, demo, login):
    from tests.support.tenants import PASSWORD, make_other_tenant

    run_drift(demo, darkening_series())
    make_other_tenant()
    other = login("reviewer@other.test", PASSWORD)
    alert = _alerts(kind="colour")[0]
    assert client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift", headers=other).status_code == 404
    assert client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift.svg", headers=other).status_code == 404
    assert client.get(f"/api/v1/review/alerts/{alert.id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/review/alerts/{alert.id}/acknowledge", headers=other, json={}).status_code == 404
    assert client.get("/api/v1/review/alerts", headers=other).get_json() == []


def test_uncalibrated_colour_is_left_out_of_the_chart(client, as_reviewer, demo):
    from server.review.service import on_photo_analysed

    photos = run_drift(demo, darkening_series(n_drift=0))
    odd = add_photo(demo("inspection:inline:A"), lab=[40.0, 0.0, 40.0], sequence=len(photos) + 1)
    odd.analysis = {**odd.analysis, "calibrated": False}
    on_photo_analysed(odd)
    series = client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift",
                        headers=as_reviewer).get_json()["series"][0]
    assert series["points"][-1]["photo_id"] == str(odd.id) and series["points"][-1]["dL"] is None
    assert _alerts() == []


def test_configured_sigma_replaces_the_estimate(demo, app):
    app.config["DRIFT_SIGMA_LAB"] = "5.0"  # a process this noisy hides a 3-unit darkening
    run_drift(demo, darkening_series())
    assert _alerts(kind="colour", rule="ewma") == []


def test_two_workers_analysing_the_same_batch_at_once_open_one_alert(app, demo):
    import threading

    from server.inspect.models import Photo
    from server.review.service import on_photo_analysed

    photos = [add_photo(demo("inspection:inline:A"), lab=lab, sequence=i + 1)
              for i, lab in enumerate(darkening_series())]
    last = [photos[-1].id, photos[-2].id]
    db.session.commit()  # and hold no transaction (SQLite's write lock) while the workers run
    barrier = threading.Barrier(2)
    errors = []

    def worker(photo_id):
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                on_photo_analysed(db.session.get(Photo, photo_id))
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(pid,)) for pid in last]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    db.session.expire_all()
    assert len(_alerts(kind="colour", rule="ewma", open_slot="open")) == 1


def test_an_acknowledged_warning_that_becomes_an_alarm_needs_attention_again(demo, monkeypatch):
    from server.review import service

    events = []
    real = service.record_event
    monkeypatch.setattr(service, "record_event", lambda alert, kind: (events.append(kind), real(alert, kind)))
    acknowledged = False
    for i, lab in enumerate(darkening_series(step=0.05)):  # gentle: a warning before the alarm
        service.on_photo_analysed(add_photo(demo("inspection:inline:A"), lab=lab, sequence=i + 1))
        warning = _alerts(kind="colour", rule="ewma", level="warning", status="open")
        if warning and not acknowledged:
            service.acknowledge_alert(_reviewer(demo), warning[0].id, "watching")
            acknowledged = True
    assert acknowledged
    alert = _alerts(kind="colour", rule="ewma")[0]
    assert (alert.level, alert.status) == ("alarm", "open")
    assert events[:3] == ["drift.alert.opened", "drift.alert.acknowledged", "drift.alert.escalated"]


def _reviewer(demo):
    from server.accounts.models import User
    from server.auth import Principal

    return Principal.of(db.session.get(User, demo("user:reviewer")))
