"""Password change, an admin's one-time reset link, removing a user or a membership."""
from __future__ import annotations

import re
from email import message_from_bytes

from tests.review import conftest as _review

smtp_server = _review.smtp_server  # a local SMTP server (aiosmtpd) wired into the app

LOGIN = "/api/v1/auth/login"
REVIEWER = ("reviewer@demo.lineside.test", "demo-reviewer")


def sign_in(client, email, password):
    return client.post(LOGIN, json={"email": email, "password": password})


def headers_of(r) -> dict:
    assert r.status_code == 200, r.get_json()
    return {"Authorization": f"Bearer {r.get_json()['token']}"}


def brand_admin(client, demo):
    from server.accounts.models import Organisation, Role
    from server.accounts.service import add_membership, create_user
    from server.extensions import db

    add_membership(create_user("brand-admin@demo.test", "brand-admin-pw", "Brand Admin"),
                   db.session.get(Organisation, demo("org:brand")), Role.admin)
    db.session.commit()
    return headers_of(sign_in(client, "brand-admin@demo.test", "brand-admin-pw"))


def user_id(client, headers, email):
    users = client.get("/api/v1/users", headers=headers).get_json()
    return next(u for u in users if u["email"] == email)


def test_changing_my_password_checks_the_old_one_and_signs_out_my_other_sessions(client, demo):
    phone = headers_of(sign_in(client, *REVIEWER))
    laptop = headers_of(sign_in(client, *REVIEWER))
    wrong = client.post("/api/v1/me/password", headers=laptop,
                        json={"current_password": "nope", "new_password": "a-brand-new-pw"})
    assert wrong.status_code == 422 and "current_password" in wrong.get_json()["errors"]
    r = client.post("/api/v1/me/password", headers=laptop,
                    json={"current_password": REVIEWER[1], "new_password": "a-brand-new-pw"})
    assert r.status_code == 204
    assert client.get("/api/v1/me", headers=laptop).status_code == 200  # this session stays
    assert client.get("/api/v1/me", headers=phone).status_code == 401  # the others are signed out
    assert sign_in(client, *REVIEWER).status_code == 401
    assert sign_in(client, REVIEWER[0], "a-brand-new-pw").status_code == 200


def test_admin_reset_link_works_once_before_it_expires_and_is_stored_hashed(client, demo, smtp_server):
    from sqlalchemy import select

    from server.accounts.models import PasswordReset
    from server.extensions import db

    admin = brand_admin(client, demo)
    reviewer_session = headers_of(sign_in(client, *REVIEWER))
    target = user_id(client, admin, REVIEWER[0])
    r = client.post(f"/api/v1/users/{target['id']}/password-reset", headers=admin)
    assert r.status_code == 202 and r.get_json() == {"emailed": True, "expires_in_seconds": 3600}
    mail = message_from_bytes(smtp_server.messages[-1].content)
    assert smtp_server.messages[-1].rcpt_tos == [REVIEWER[0]]
    token = re.search(r"token=([A-Za-z0-9_-]+)", mail.get_payload(decode=True).decode()).group(1)
    stored = db.session.scalars(select(PasswordReset.token_hash)).all()
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64

    ok = client.post("/api/v1/auth/password-reset", json={"token": token, "new_password": "reset-password-1"})
    assert ok.status_code == 204
    again = client.post("/api/v1/auth/password-reset", json={"token": token, "new_password": "reset-password-2"})
    assert again.status_code == 422 and "token" in again.get_json()["errors"]
    assert client.get("/api/v1/me", headers=reviewer_session).status_code == 401  # signed out everywhere
    assert sign_in(client, REVIEWER[0], "reset-password-1").status_code == 200


def test_an_expired_reset_link_is_refused(client, demo, smtp_server):
    from datetime import timedelta

    from sqlalchemy import select

    from server.accounts.models import PasswordReset
    from server.extensions import db

    admin = brand_admin(client, demo)
    target = user_id(client, admin, REVIEWER[0])
    client.post(f"/api/v1/users/{target['id']}/password-reset", headers=admin)
    token = re.search(r"token=([A-Za-z0-9_-]+)",
                      message_from_bytes(smtp_server.messages[-1].content).get_payload(decode=True).decode()).group(1)
    reset = db.session.scalar(select(PasswordReset))
    reset.expires_at = reset.created_at - timedelta(seconds=1)
    db.session.commit()
    r = client.post("/api/v1/auth/password-reset", json={"token": token, "new_password": "reset-password-1"})
    assert r.status_code == 422
    assert sign_in(client, *REVIEWER).status_code == 200


def test_an_org_admin_cannot_reset_or_remove_someone_outside_their_organisations(client, demo):
    from tests.support.tenants import make_other_tenant

    make_other_tenant()
    admin = brand_admin(client, demo)
    platform = headers_of(sign_in(client, "admin@demo.lineside.test", "demo-admin"))
    outsider = user_id(client, platform, "reviewer@other.test")
    assert client.post(f"/api/v1/users/{outsider['id']}/password-reset", headers=admin).status_code == 404
    assert client.delete(f"/api/v1/users/{outsider['id']}", headers=admin).status_code == 404
    reviewer = headers_of(sign_in(client, *REVIEWER))
    assert client.delete(f"/api/v1/users/{outsider['id']}", headers=reviewer).status_code == 403


def test_removing_a_membership_and_a_user(client, demo):
    admin = brand_admin(client, demo)
    platform = headers_of(sign_in(client, "admin@demo.lineside.test", "demo-admin"))
    target = user_id(client, admin, REVIEWER[0])
    membership = next(m for m in target["memberships"] if m["organisation_id"] == str(demo("org:brand")))
    r = client.delete(f"/api/v1/users/{target['id']}/memberships/{membership['id']}", headers=admin)
    assert r.status_code == 204
    me = client.get("/api/v1/me", headers=headers_of(sign_in(client, *REVIEWER))).get_json()
    assert str(demo("org:brand")) not in {m["organisation_id"] for m in me["memberships"]}
    # the platform admin deactivates the account: signed out and unable to sign in
    session = headers_of(sign_in(client, *REVIEWER))
    assert client.delete(f"/api/v1/users/{target['id']}", headers=platform).status_code == 204
    assert client.get("/api/v1/me", headers=session).status_code == 401
    assert sign_in(client, *REVIEWER).status_code == 401
