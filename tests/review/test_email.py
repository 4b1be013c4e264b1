"""Alert e-mail through SMTP: to the brand's reviewers, only for alarms, never blocking."""
from __future__ import annotations

from email import message_from_bytes

from tests.review.conftest import darkening_series, run_drift


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
    import socket
    import threading

    from server.review.models import DriftAlert
    from server.extensions import db

    # An "SMTP server" that accepts the connection and hangs up at once: the e-mail is tried and fails.
    listener = socket.create_server(("127.0.0.1", 0))
    tried = []

    def hang_up():
        listener.settimeout(30)
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            tried.append(1)
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=listener.getsockname()[1], SMTP_TIMEOUT_SECONDS=2)
    try:
        run_drift(demo, darkening_series())  # the e-mail task fails; the analysis hook does not
    finally:
        listener.close()
        thread.join(5)
    assert tried, "no e-mail was attempted"
    # the seeded series opens two alerts (see the drift tests), mail server or not
    assert db.session.query(DriftAlert).filter_by(status="open").count() == 2


def test_a_batch_code_with_line_breaks_still_gets_its_alert_email(demo, smtp_server):
    from server.catalog.models import Batch
    from server.extensions import db

    db.session.get(Batch, demo("batch:A")).code = "LOT-A\r\nBcc: attacker@evil.test"
    db.session.commit()
    run_drift(demo, darkening_series())
    assert smtp_server.messages
    env = smtp_server.messages[0]
    assert not any("evil" in r for r in env.rcpt_tos)
    from email import policy

    msg = message_from_bytes(env.content, policy=policy.default)  # long headers unfolded
    assert msg["Bcc"] is None
    assert "LOT-A Bcc: attacker@evil.test" in msg["Subject"] and "\n" not in msg["Subject"]
