"""Alert e-mail through SMTP: to the brand's reviewers, only for alarms, never blocking."""
from __future__ import annotations

from email import message_from_bytes

from tests.review.conftest import darkening_series, free_port, run_drift


def test_alarm_is_emailed_to_the_brands_reviewers_and_admins(demo, smtp_server):
    run_drift(demo, darkening_series())
    assert smtp_server.messages
    env = smtp_server.messages[0]
    assert sorted(env.rcpt_tos) == ["admin@demo.lineside.test", "reviewer@demo.lineside.test"]
    msg = message_from_bytes(env.content)
    assert "alarm" in msg["Subject"] and "LOT-A" in msg["Subject"]
    assert "getting darker" in msg.get_payload(decode=True).decode()


def test_other_brands_users_get_no_email(demo, smtp_server):
    from tests.support.tenants import make_other_tenant

    make_other_tenant()
    run_drift(demo, darkening_series())
    everyone = {r for env in smtp_server.messages for r in env.rcpt_tos}
    assert everyone and not any(r.endswith("@other.test") for r in everyone)


def test_without_smtp_host_nothing_is_sent_and_nothing_fails(demo, app):
    from server.review.delivery import send_alert_email
    from server.review.models import DriftAlert
    from server.extensions import db

    app.config["SMTP_HOST"] = ""
    run_drift(demo, darkening_series())
    alert = db.session.query(DriftAlert).first()
    assert alert is not None
    assert send_alert_email(str(alert.id), "drift.alert.opened") == 0


def test_smtp_server_down_does_not_block_the_alert(demo, app):
    from server.review.models import DriftAlert
    from server.extensions import db

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_TIMEOUT_SECONDS=2)
    run_drift(demo, darkening_series())  # the e-mail task fails; the analysis hook does not
    assert db.session.query(DriftAlert).filter_by(status="open").count() >= 1
