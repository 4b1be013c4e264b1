"""Webhook signing and delivery back-off.

Outgoing webhooks (drift alerts, verdicts) carry a signature header so that the receiver can
check that the body came from Lineside and was not replayed later::

    Lineside-Signature: t=1700000000,v1=<64 lower-case hex digits>

``v1`` is the lower-case hex HMAC-SHA256 (RFC 2104, FIPS 180-4) keyed with the endpoint's
secret over the bytes ``f"{t}."`` followed by the raw request body. Binding the timestamp
into the MAC lets the receiver reject replays older than a tolerance window. The scheme is the
one Stripe documents for its webhooks, so receivers can reuse existing verification code.

Receivers may see several ``v1=`` entries while a secret is being rotated; :func:`verify`
accepts the header if any of them matches.

All functions are pure: no clock is read and no randomness is drawn here; callers pass ``now``
and the jitter value.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["SIGNATURE_SCHEME", "sign", "signature_hex", "parse_header", "verify", "backoff_seconds"]

#: Name of the signature scheme in the header (``v1=...``).
SIGNATURE_SCHEME = "v1"


def _key(secret: bytes | str) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, (bytes, bytearray)):
        raise TypeError("secret must be bytes or str")
    if not secret:
        raise ValueError("secret must not be empty")
    return bytes(secret)


def _check_timestamp(timestamp: int) -> int:
    # bool is an int subclass; a True timestamp is a bug, not the epoch second 1.
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("timestamp must be an int (Unix seconds)")
    if timestamp < 0:
        raise ValueError("timestamp must not be negative")
    return timestamp


def signature_hex(secret: bytes | str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``f"{timestamp}.".encode() + body`` keyed with ``secret``.

    Raises TypeError if ``body`` is not bytes or ``timestamp`` is not an int, ValueError for an
    empty secret or a negative timestamp.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError("body must be bytes (sign the exact bytes that are sent)")
    message = f"{_check_timestamp(timestamp)}.".encode("ascii") + bytes(body)
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign(secret: bytes | str, timestamp: int, body: bytes) -> str:
    """Signature header value ``t=<timestamp>,v1=<hex HMAC-SHA256>`` for ``body``.

    ``secret`` as str is encoded as UTF-8. Raises as :func:`signature_hex`.
    """
    return f"t={timestamp},{SIGNATURE_SCHEME}={signature_hex(secret, timestamp, body)}"


def parse_header(header: str) -> tuple[int, tuple[str, ...]]:
    """Split a signature header into its timestamp and its ``v1`` signatures.

    Unknown keys (future schemes) are ignored. Raises ValueError if the header has no integer
    ``t`` or no ``v1`` entry, or an entry is not ``key=value``.
    """
    if not isinstance(header, str):
        raise ValueError("signature header must be a string")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise ValueError(f"malformed signature header entry {item!r}")
        if key == "t":
            if not value.isascii() or not value.isdigit():
                raise ValueError("signature header timestamp is not an integer")
            timestamp = int(value)
        elif key == SIGNATURE_SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise ValueError("signature header has no timestamp")
    if not signatures:
        raise ValueError(f"signature header has no {SIGNATURE_SCHEME} signature")
    return timestamp, tuple(signatures)


def verify(
    secret: bytes | str,
    header: str,
    body: bytes,
    now: int,
    tolerance_seconds: int = 300,
) -> bool:
    """True if ``header`` is a valid signature of ``body`` made within the tolerance window.

    The header's timestamp must satisfy ``|now - t| <= tolerance_seconds`` (both directions, to
    allow for clock skew), and one of its ``v1`` signatures must equal the expected HMAC. The
    comparison uses :func:`hmac.compare_digest` so its time does not depend on how many leading
    characters match. A malformed header gives False, never an exception; a bad ``secret`` or
    a non-bytes ``body`` is a programming error and raises as :func:`signature_hex`.
    """
    if tolerance_seconds < 0:
        raise ValueError("tolerance_seconds must not be negative")
    try:
        timestamp, signatures = parse_header(header)
    except ValueError:
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = signature_hex(secret, timestamp, body).encode("ascii")
    matched = False
    for candidate in signatures:
        # Check every candidate (no early exit) and compare bytes: compare_digest refuses
        # non-ASCII str, and an attacker-controlled header may contain anything.
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched


def backoff_seconds(attempt: int, base: float = 30, cap: float = 3600, jitter: float = 0.0) -> float:
    """Delay before retry number ``attempt`` (1 = first retry) of a failed webhook delivery.

    Capped exponential back-off: ``d = min(cap, base * 2**(attempt - 1))``, so with the defaults
    30 s, 60 s, 120 s, ... up to one hour. ``jitter`` in [0, 1] is the random fraction supplied
    by the caller (e.g. ``random.random()``); the result is ``d * (1 - jitter / 2)``, i.e.
    "equal jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): spread over
    [d/2, d] so that endpoints that failed together do not retry together, while the delay never
    drops below half the schedule. ``jitter=0`` is deterministic.

    Raises ValueError for ``attempt < 1``, a negative ``base``, ``cap < base`` or a jitter
    outside [0, 1].
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError("attempt must be an int >= 1")
    if base < 0 or cap < base:
        raise ValueError("need 0 <= base <= cap")
    if not 0.0 <= jitter <= 1.0:
        raise ValueError("jitter must be in [0, 1]")
    # Stop doubling once past the cap: 2**attempt for a huge attempt would be a huge int.
    exponent = min(attempt - 1, 64)
    delay = min(float(cap), float(base) * 2.0**exponent)
    return delay * (1.0 - jitter / 2.0)
