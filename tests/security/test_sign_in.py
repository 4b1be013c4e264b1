"""Sign-in throttling (OWASP: growing delays per account and address, no lock-out) and proxy trust."""
from __future__ import annotations

from datetime import timedelta

import pytest

LOGIN = "/api/v1/auth/login"
EMAIL, PASSWORD = "reviewer@demo.lineside.test", "demo-reviewer"


@pytest.fixture
def app_config(tmp_path):
    return {"TESTING": True, "STORAGE_URL": f"file://{tmp_path / 'storage'}"}


def attempt(client, password: str, address: str = "203.0.113.7", email: str = EMAIL, **headers):
    return client.post(LOGIN, json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address}, headers=headers)


def age_failures(seconds: float) -> None:
    """Move every recorded failure ``seconds`` into the past (instead of sleeping)."""
    from sqlalchemy import select

    from server.accounts.models import LoginAttempt
    from server.extensions import db

    for row in db.session.scalars(select(LoginAttempt)):
        row.at = row.at - timedelta(seconds=seconds)
    db.session.commit()


def test_growing_delay_doubles_after_the_free_failures_up_to_a_ceiling():
    from server.accounts.service import growing_delay

    assert [growing_delay(n, 5, 900) for n in range(4, 12)] == [0, 1, 2, 4, 8, 16, 32, 64]
    assert growing_delay(40, 5, 900) == 900


def test_failures_from_one_address_slow_that_address_down_with_retry_after(app, client, demo):
    for _ in range(5):  # the free failures
        assert attempt(client, "wrong").status_code == 401
    r = attempt(client, "wrong")
    assert r.status_code == 429 and r.mimetype == "application/problem+json"
    assert r.headers["Retry-After"] == "1" and r.get_json()["retry_after_seconds"] == 1
    age_failures(1.5)
    assert attempt(client, "wrong").status_code == 401  # the sixth failure: the next wait is 2 s
    r = attempt(client, PASSWORD)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2"
    age_failures(2.5)
    assert attempt(client, PASSWORD).status_code == 200  # the owner gets in once the short wait is over


def test_an_attacker_elsewhere_does_not_lock_the_owner_out(app, client, demo):
    app.config["LOGIN_MAX_FAILURES_PER_ACCOUNT"] = 1000
    for _ in range(12):  # ten wrong passwords used to lock the account for 15 minutes
        attempt(client, "wrong", address="198.51.100.66")
        age_failures(65)  # past each wait, all within the 15-minute window
    assert attempt(client, "wrong", address="198.51.100.66").status_code == 429
    assert attempt(client, PASSWORD, address="192.0.2.10").status_code == 200


def test_many_addresses_guessing_one_account_get_a_short_shared_wait(app, client, demo):
    for i in range(10):
        assert attempt(client, "wrong", address=f"198.51.100.{i}").status_code == 401
    r = attempt(client, PASSWORD, address="192.0.2.10")
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 30
    for _ in range(20):  # however long it goes on, the account-wide wait stays at most 30 s
        attempt(client, "wrong", address="198.51.100.99")
        age_failures(31)
    r = attempt(client, PASSWORD, address="192.0.2.10")
    assert r.status_code == 200, r.get_json()


def test_forwarded_for_is_ignored_unless_a_proxy_is_trusted(app, client, demo):
    from sqlalchemy import select

    from server.accounts.models import LoginAttempt
    from server.extensions import db

    attempt(client, "wrong", address="10.0.0.2", **{"X-Forwarded-For": "192.0.2.55"})
    assert db.session.scalars(select(LoginAttempt.address)).all() == ["10.0.0.2"]


def test_behind_a_trusted_proxy_the_limit_keys_on_the_client_not_the_proxy(database_urls, backend, tmp_path, demo):
    from sqlalchemy import select

    from server import create_app
    from server.accounts.models import LoginAttempt
    from server.extensions import db

    proxied = create_app({"DATABASE_URL": database_urls[backend], "TESTING": True, "TRUSTED_PROXY_COUNT": 1,
                          "STORAGE_URL": f"file://{tmp_path / 'storage'}", "LOGIN_MAX_FAILURES_PER_ADDRESS": 3})
    c = proxied.test_client()
    proxy = "10.0.0.1"
    for i in range(3):  # three clients behind the proxy fail, one of them with a forged left-most entry
        r = attempt(c, "wrong", address=proxy, email=f"nobody{i}@x.test",
                    **{"X-Forwarded-For": f"6.6.6.6, 192.0.2.{i}"})
        assert r.status_code == 401
    with proxied.app_context():
        assert sorted(db.session.scalars(select(LoginAttempt.address)).all()) == ["192.0.2.0", "192.0.2.1",
                                                                                 "192.0.2.2"]
    # another client behind the same proxy is not locked out by them
    assert attempt(c, PASSWORD, address=proxy, **{"X-Forwarded-For": "192.0.2.200"}).status_code == 200


def test_creating_a_user_does_not_tell_an_org_admin_which_emails_exist(app, client, demo, login):
    from server.accounts.models import Organisation, Role
    from server.accounts.service import add_membership, create_user
    from server.extensions import db
    from tests.support.tenants import PASSWORD, make_other_tenant

    make_other_tenant()
    brand = db.session.get(Organisation, demo("org:brand"))
    add_membership(create_user("brand-admin@demo.test", "brand-admin-pw", "Brand Admin"), brand, Role.admin)
    db.session.commit()
    admin = login("brand-admin@demo.test", "brand-admin-pw")
    body = {"name": "Someone", "password": "a-long-password",
            "memberships": [{"organisation_id": str(brand.id), "role": "brand_reviewer"}]}
    fresh = client.post("/api/v1/users", headers=admin, json={**body, "email": "fresh@new.test"})
    taken = client.post("/api/v1/users", headers=admin, json={**body, "email": "reviewer@other.test"})
    assert (fresh.status_code, taken.status_code) == (201, 201), taken.get_json()
    assert set(fresh.get_json()) == set(taken.get_json())
    # the existing account kept its password; nobody can sign in to it with the one the admin chose
    assert client.post(LOGIN, json={"email": "reviewer@other.test", "password": "a-long-password"}).status_code == 401
    assert client.post(LOGIN, json={"email": "reviewer@other.test", "password": PASSWORD}).status_code == 200
    # a platform admin, who sees every user anyway, still gets the plain 409
    platform = login("admin@demo.lineside.test", "demo-admin")
    assert client.post("/api/v1/users", headers=platform, json={**body, "email": "fresh@new.test"}).status_code == 409
