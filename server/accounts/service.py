"""Accounts: passwords, sign-in with rate limits, bearer tokens."""
from __future__ import annotations

import hashlib
import math
import os
import secrets
import uuid
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, delete, func, select, update

from ..errors import Conflict, RateLimited, Unauthenticated, ValidationFailed
from ..extensions import db
from ..models import utcnow
from .models import ApiToken, LoginAttempt, Membership, Organisation, Role, User

# Argon2id (RFC 9106), memory-hard; by default 64 MiB, t=3, p=4 (RFC 9106's second recommendation).
# ARGON2_MEMORY_KIB and ARGON2_TIME_COST lower it for the test suite only; a stored hash keeps its
# own parameters, and ``check_needs_rehash`` upgrades old hashes at the next sign-in.
_hasher = PasswordHasher(memory_cost=int(os.environ.get("ARGON2_MEMORY_KIB", 65536)),
                         time_cost=int(os.environ.get("ARGON2_TIME_COST", 3)))
# Verified against when the email is unknown, so timing does not tell which emails exist.
_DUMMY_HASH = _hasher.hash("lineside-dummy-password")

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """Return the Argon2id hash of ``password``. Raises ``ValidationFailed`` if it is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(errors={"password": [f"Use at least {MIN_PASSWORD_LENGTH} characters."]})
    return _hasher.hash(password)


def hash_token(token: str) -> str:
    """Tokens are stored only as their SHA-256 (they are random, so no salt or stretching is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(email: str, password: str, name: str, *, is_platform_admin: bool = False) -> User:
    """Create a user. Raises ``Conflict`` when the email is taken."""
    email = normalise_email(email)
    if "@" not in email:
        raise ValidationFailed(errors={"email": ["Not a valid email address."]})
    if db.session.scalar(select(User).where(User.email == email)):
        raise Conflict(f"A user with email {email} already exists.")
    user = User(email=email, name=name, password_hash=hash_password(password),
                is_platform_admin=is_platform_admin)
    db.session.add(user)
    return user


def add_membership(user: User, org: Organisation, role: Role) -> Membership:
    """Give ``user`` a role in ``org`` (idempotent)."""
    for m in user.memberships:
        if m.organisation_id == org.id and m.role == role:
            return m
    m = Membership(user=user, organisation=org, role=role)
    user.memberships.append(m)
    return m


def login(email: str, password: str, address: str, config: dict, label: str = "") -> tuple[str, User]:
    """Check the credentials and return ``(token, user)``.

    Throttling follows OWASP's advice (growing delays, no lock-out): failed sign-ins are counted
    per (account, address) pair, per account and per address over ``LOGIN_WINDOW_SECONDS``. Past a
    few free failures each counter asks for a wait after its latest failure that doubles with
    every further failure, up to a ceiling; the account-wide wait (attempts from every address)
    stays short (``LOGIN_ACCOUNT_MAX_DELAY_SECONDS``), so whoever guesses elsewhere never locks the
    owner out for long. Raises ``RateLimited`` (with ``retry_after_seconds``) while a wait runs, and
    ``Unauthenticated`` for a wrong email or password (the same answer for both).
    """
    email = normalise_email(email)
    now = utcnow()
    wait = _throttle_wait(email, address, config, now)
    if wait > 0:
        raise RateLimited("Too many failed sign-ins. Wait a moment and try again.",
                          retry_after_seconds=wait)

    user = db.session.scalar(select(User).where(User.email == email))
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or not user.is_active:
        db.session.add(LoginAttempt(email=email, address=address[:64], at=now))
        db.session.commit()
        raise Unauthenticated("Wrong email or password.")

    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    # The pair's own failures are forgiven; other addresses' failures on the account still count.
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == email, LoginAttempt.address == address[:64]))
    token = issue_token(user, config["TOKEN_TTL_SECONDS"], label=label)
    db.session.commit()
    return token, user


def growing_delay(failures: int, free: int, ceiling: int) -> int:
    """Seconds to wait after the latest of ``failures``: none for the first ``free``, then 1, 2, 4 ... up to ``ceiling``."""
    if failures < free:
        return 0
    return int(min(ceiling, 2 ** min(failures - free, 30)))


def _throttle_wait(email: str, address: str, config: dict, now) -> int:
    """Whole seconds still to wait before this (account, address) may try again; 0 when it may now."""
    since = now - timedelta(seconds=config["LOGIN_WINDOW_SECONDS"])
    recent = LoginAttempt.at >= since
    ceiling = int(config["LOGIN_MAX_DELAY_SECONDS"])
    checks = (
        (and_(LoginAttempt.email == email, LoginAttempt.address == address[:64]),
         config["LOGIN_FREE_FAILURES_PER_PAIR"], ceiling),
        (LoginAttempt.email == email, config["LOGIN_MAX_FAILURES_PER_ACCOUNT"],
         min(ceiling, int(config["LOGIN_ACCOUNT_MAX_DELAY_SECONDS"]))),
        (LoginAttempt.address == address[:64], config["LOGIN_MAX_FAILURES_PER_ADDRESS"], ceiling),
    )
    wait = 0.0
    for where, free, cap in checks:
        count, last = db.session.execute(select(func.count(), func.max(LoginAttempt.at)).where(where, recent)).one()
        delay = growing_delay(count, int(free), cap)
        if delay and last is not None:
            if last.tzinfo is None:
                last = last.replace(tzinfo=now.tzinfo)
            wait = max(wait, delay - (now - last).total_seconds())
    return math.ceil(wait) if wait > 0 else 0


def issue_token(user: User, ttl_seconds: int, label: str = "") -> str:
    """Create a token for ``user``; only its hash is stored. Returns the token (shown once)."""
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label[:200],
                            expires_at=utcnow() + timedelta(seconds=ttl_seconds)))
    return token


def user_for_token(token: str) -> User:
    """Return the active user owning ``token``. Raises ``Unauthenticated`` otherwise."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.user.is_active:
        raise Unauthenticated("Your session has expired or was signed out. Please sign in again.")
    # Write last-use at most once an hour: it saves a write on every request.
    if row.last_used_at is None or now - row.last_used_at > timedelta(hours=1):
        row.last_used_at = now
        db.session.commit()
    return row.user


def revoke_token(token: str) -> None:
    """Revoke one token (sign out)."""
    db.session.execute(update(ApiToken).where(ApiToken.token_hash == hash_token(token),
                                              ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow()))
    db.session.commit()


def revoke_user_tokens(user_id: uuid.UUID) -> int:
    """Revoke every token of a user. Returns how many were revoked."""
    result = db.session.execute(update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                                .values(revoked_at=utcnow()))
    db.session.commit()
    return result.rowcount or 0




# -- password change, admin reset, removing people ------------------------------------------------

PASSWORD_RESET_TTL_SECONDS = 3600


def change_password(user: User, current: str, new: str, keep_token: str | None, address: str, config: dict) -> None:
    """Change the user's own password after checking the current one; every other session is signed out.

    Wrong current passwords count as failed sign-ins (same throttling). Raises ``RateLimited``,
    ``ValidationFailed`` (wrong current password, or a new one too short).
    """
    now = utcnow()
    wait = _throttle_wait(user.email, address, config, now)
    if wait > 0:
        raise RateLimited("Too many failed attempts. Wait a moment and try again.", retry_after_seconds=wait)
    try:
        ok = _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        db.session.add(LoginAttempt(email=user.email, address=address[:64], at=now))
        db.session.commit()
        raise ValidationFailed("The current password is wrong.", errors={"current_password": ["Wrong password."]})
    user.password_hash = hash_password(new)
    keep = hash_token(keep_token) if keep_token else None
    db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None),
                                              ApiToken.token_hash != (keep or "")).values(revoked_at=now))
    db.session.commit()


def start_password_reset(user: User, by: User | None) -> str:
    """Create a one-time reset token for ``user`` (stored hashed, valid an hour); answers the token."""
    from .models import PasswordReset

    token = secrets.token_urlsafe(32)
    now = utcnow()
    # one live reset per user: older unused links stop working
    db.session.execute(update(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
                       .values(used_at=now))
    db.session.add(PasswordReset(user_id=user.id, token_hash=hash_token(token), created_by_id=by.id if by else None,
                                 created_at=now, expires_at=now + timedelta(seconds=PASSWORD_RESET_TTL_SECONDS)))
    return token


def finish_password_reset(token: str, new: str) -> User:
    """Set a new password through a reset token: once, before it expires; signs the user out everywhere.

    Raises ``ValidationFailed`` for an unknown, used or expired token, or a password too short.
    """
    from .models import PasswordReset

    now = utcnow()
    reset = db.session.scalar(select(PasswordReset).where(PasswordReset.token_hash == hash_token(token))
                              .with_for_update())
    expires = reset.expires_at if reset else None
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=now.tzinfo)
    if reset is None or reset.used_at is not None or expires <= now:
        raise ValidationFailed("This reset link is not valid (used, expired or unknown); ask for a new one.",
                               errors={"token": ["Not valid."]})
    user = db.session.get(User, reset.user_id)
    user.password_hash = hash_password(new)
    reset.used_at = now
    db.session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                       .values(revoked_at=now))
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.email == user.email))
    db.session.commit()
    return user


def send_password_reset_email(config: dict, user: User, token: str) -> bool:
    """E-mail the reset link; False when no SMTP server is configured. Raises ``OSError``/``SMTPException``."""
    import smtplib
    from email.message import EmailMessage

    if not config.get("SMTP_HOST"):
        return False
    base = (config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    msg = EmailMessage()
    msg["Subject"] = "[Lineside] Set a new password"
    msg["From"] = config["SMTP_FROM"]
    msg["To"] = user.email
    msg.set_content("An administrator started a password reset for your Lineside account.\n\n"
                    f"Set a new password within an hour: {base}/#/reset-password?token={token}\n\n"
                    "The link works once. If you did not expect this, tell your administrator.")
    with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=config["SMTP_TIMEOUT_SECONDS"]) as smtp:
        if config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if config.get("SMTP_USERNAME"):
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        smtp.send_message(msg)
    return True
