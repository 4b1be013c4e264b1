"""Issue 6, done when: the demo driven through a drift ends in an alert delivered to a webhook and
by e-mail, seen and acknowledged by the demo reviewer, whose decisions reach the inspector's phone."""
from __future__ import annotations

import json
import time

from server.inspect.signing import verify
from tests.review.conftest import make_webhook
from tests.review.test_decisions import pull_all


def test_drift_demo_ends_in_a_delivered_acknowledged_alert_and_a_retake_on_the_phone(
        client, runner, as_reviewer, as_inspector, demo, receiver, smtp_server, app):
    hook = make_webhook(client, as_reviewer, receiver.url)

    result = runner.invoke(args=["drift-demo", "--baseline", "20", "--drift", "25"])
    assert result.exit_code == 0, result.output
    assert "open alert(s) on LOT-A" in result.output

    # webhook: signed, names the direction
    opened = [r for r in receiver.requests if r["headers"]["Lineside-Event"] == "drift.alert.opened"]
    assert opened
    assert all(verify(hook["secret"], r["headers"]["Lineside-Signature"], r["body"], now=int(time.time()))
               for r in opened)
    assert any("darker" in json.loads(r["body"])["data"]["alert"]["direction"] for r in opened)
    # e-mail to the reviewer
    assert any("reviewer@demo.lineside.test" in env.rcpt_tos for env in smtp_server.messages)

    # the reviewer sees the alert in the feed and acknowledges it
    feed = client.get("/api/v1/review/alerts?status=open&kind=colour", headers=as_reviewer).get_json()
    assert feed and "darker" in feed[0]["direction"] and feed[0]["batch_code"] == "LOT-A"
    ack = client.post(f"/api/v1/review/alerts/{feed[0]['id']}/acknowledge", headers=as_reviewer, json={})
    assert ack.status_code == 200 and ack.get_json()["status"] == "acknowledged"
    assert any(r["headers"]["Lineside-Event"] == "drift.alert.acknowledged" for r in receiver.requests)

    # the chart loads from the signed link, as an <img> would
    drift = client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift", headers=as_reviewer).get_json()
    assert client.get(drift["series"][0]["svg_url"]).mimetype == "image/svg+xml"

    # the darkest photos are in the queue; a retake request reaches the inspector's phone
    queue = client.get("/api/v1/review/queue?reason=out_of_tolerance", headers=as_reviewer).get_json()
    assert queue
    r = client.post(f"/api/v1/review/photos/{queue[0]['photo_id']}/decisions", headers=as_reviewer,
                    json={"decision": "retake", "comment": "Colour off: retake under the daylight lamp"})
    assert r.status_code == 201
    changes = pull_all(client, as_inspector)
    task = [c for c in changes if c["entity"] == "decision" and c["id"] == r.get_json()["id"]]
    assert task and task[0]["fields"]["decision"] == "retake" and task[0]["fields"]["resolved"] is False


def test_drift_demo_can_run_again_and_starts_over(runner, demo):
    from sqlalchemy import func, select

    from server.extensions import db
    from server.inspect.models import Photo

    for _ in range(2):
        result = runner.invoke(args=["drift-demo", "--baseline", "20", "--drift", "5"])
        assert result.exit_code == 0, result.output
    live = db.session.scalar(select(func.count()).select_from(Photo).where(
        Photo.deleted.is_(False), Photo.item_key == "drift_demo"))
    assert live == 25


def test_a_photo_analysed_by_the_real_pipeline_reaches_the_drift_chart_and_the_review_screen(
        client, as_reviewer, demo):
    from server.inspect.analysis import analyse_photo
    from tests.inspect.photo_flow import demo_photo, store_photo

    ok = store_photo(demo_photo("in_tolerance"))
    off = store_photo(demo_photo("out_of_tolerance"))
    assert analyse_photo(ok) == "pass" and analyse_photo(off) == "fail"

    drift = client.get(f"/api/v1/review/batches/{demo('batch:A')}/drift", headers=as_reviewer).get_json()
    colour = next(s for s in drift["series"] if s["kind"] == "colour")
    assert [p["photo_id"] for p in colour["points"]] == [str(ok), str(off)]
    assert colour["status"] == "baseline"
    assert colour["points"][1]["delta_e"] > colour["points"][0]["delta_e"]

    detail = client.get(f"/api/v1/review/photos/{off}", headers=as_reviewer).get_json()
    assert detail["severity"] == "high" and detail["photo_url"] and detail["overlay_url"]
    assert {m["name"]: m["within"] for m in detail["measurements"]}["colour (Sage green)"] is False
