"""Secrets the server must read back (webhook signing secrets), encrypted at rest.

The key is derived from ``SECRET_KEY`` with HKDF-SHA256 (one key per purpose), and the value is
sealed with Fernet (AES-128-CBC and HMAC-SHA256, from ``cryptography``). Stored text is
``enc:v1:<token>``; text without that prefix is a value written before encryption, read as it is
(migration 0016 encrypts those rows). Changing ``SECRET_KEY`` makes the stored secrets
unreadable: webhook receivers then need new secrets (see README, production notes).
"""
from __future__ import annotations

import base64
import functools
import logging

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import String
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
PREFIX = "enc:v1:"


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str, purpose: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"lineside.secretbox",
               info=purpose.encode()).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(value: str, secret_key: str, purpose: str = "webhook-secret") -> str:
    """``value`` encrypted for storage (``enc:v1:...``)."""
    return PREFIX + _fernet(secret_key, purpose).encrypt(value.encode()).decode()


def open_sealed(stored: str, secret_key: str, purpose: str = "webhook-secret") -> str:
    """The plain value of stored text; text written before encryption is answered as it is.

    Raises ``ValueError`` when the text was sealed with another key (``SECRET_KEY`` changed).
    """
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _fernet(secret_key, purpose).decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise ValueError("sealed with another SECRET_KEY") from None


def _current_key() -> str:
    from flask import current_app

    return current_app.config["SECRET_KEY"]


class SealedString(TypeDecorator):
    """A text column stored sealed with the app's ``SECRET_KEY`` and read back in plain."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or value.startswith(PREFIX):
            return value
        return seal(value, _current_key())

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        try:
            return open_sealed(value, _current_key())
        except ValueError:
            log.warning("a stored secret cannot be read with this SECRET_KEY; it must be set again")
            return ""
