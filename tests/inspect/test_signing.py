"""Webhook signing: known answers, tolerance window, tampering, back-off schedule."""

import hashlib
import hmac

import pytest

from server.inspect.signing import backoff_seconds, parse_header, sign, signature_hex, verify

SECRET = b"whsec_test_secret"
BODY = b'{"event":"drift.alarm","batch":"b-1"}'
TS = 1_700_000_000


def _independent(secret: bytes, ts: int, body: bytes) -> str:
    return hmac.new(secret, str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()


def test_known_answer_matches_independent_hmac():
    assert sign(SECRET, TS, BODY) == f"t={TS},v1={_independent(SECRET, TS, BODY)}"


def test_known_answer_rfc4231_case_2_key_and_fixed_vector():
    # RFC 4231 test case 2 key; message built as "<ts>." + body.
    key, ts, body = b"Jefe", 0, b"what do ya want for nothing?"
    expected = hmac.new(key, b"0.what do ya want for nothing?", hashlib.sha256).hexdigest()
    assert signature_hex(key, ts, body) == expected
    assert len(expected) == 64 and expected == expected.lower()


def test_str_secret_is_utf8():
    assert sign("clé", TS, BODY) == sign("clé".encode("utf-8"), TS, BODY)


def test_empty_body_is_signed():
    assert sign(SECRET, TS, b"") == f"t={TS},v1={_independent(SECRET, TS, b'')}"


def test_verify_accepts_own_signature():
    assert verify(SECRET, sign(SECRET, TS, BODY), BODY, now=TS + 10)


@pytest.mark.parametrize("offset", [-300, 300])
def test_verify_accepts_edge_of_window(offset):
    assert verify(SECRET, sign(SECRET, TS, BODY), BODY, now=TS + offset)


@pytest.mark.parametrize("offset", [-301, 301, 10_000])
def test_verify_rejects_outside_window(offset):
    assert not verify(SECRET, sign(SECRET, TS, BODY), BODY, now=TS + offset)


def test_verify_custom_tolerance():
    header = sign(SECRET, TS, BODY)
    assert not verify(SECRET, header, BODY, now=TS + 61, tolerance_seconds=60)
    assert verify(SECRET, header, BODY, now=TS + 60, tolerance_seconds=60)


def test_verify_rejects_tampered_body():
    assert not verify(SECRET, sign(SECRET, TS, BODY), BODY + b" ", now=TS)


def test_verify_rejects_wrong_secret():
    assert not verify(b"other", sign(SECRET, TS, BODY), BODY, now=TS)


def test_verify_rejects_timestamp_swapped_into_header():
    # Replaying an old signature with a fresh t= must fail: t is inside the MAC.
    sig = signature_hex(SECRET, TS, BODY)
    assert not verify(SECRET, f"t={TS + 1000},v1={sig}", BODY, now=TS + 1000)


def test_verify_accepts_any_of_several_signatures_during_rotation():
    good = signature_hex(SECRET, TS, BODY)
    header = f"t={TS},v1={'0' * 64},v1={good},v0=ignored"
    assert verify(SECRET, header, BODY, now=TS)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=abc,v1=00", f"v1={'0' * 64}", f"t={TS}", f"t={TS},v1", "t=-5,v1=00",
     f"t={TS},v1=\u00e9\u00e9"],
)
def test_verify_malformed_header_is_false_not_error(header):
    assert verify(SECRET, header, BODY, now=TS) is False


def test_parse_header_round_trip():
    ts, sigs = parse_header(sign(SECRET, TS, BODY))
    assert ts == TS and sigs == (_independent(SECRET, TS, BODY),)


@pytest.mark.parametrize("bad", [b"", None, 5])
def test_bad_secret_raises(bad):
    with pytest.raises((ValueError, TypeError)):
        sign(bad, TS, BODY)


def test_body_must_be_bytes():
    with pytest.raises(TypeError):
        sign(SECRET, TS, "text")


@pytest.mark.parametrize("ts", [True, 1.5, "1"])
def test_timestamp_must_be_int(ts):
    with pytest.raises(TypeError):
        sign(SECRET, ts, BODY)


def test_negative_timestamp_rejected():
    with pytest.raises(ValueError):
        sign(SECRET, -1, BODY)


def test_backoff_doubles_from_base_until_cap():
    assert [backoff_seconds(a) for a in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert backoff_seconds(10_000) == 3600


def test_backoff_custom_base_and_cap():
    assert backoff_seconds(3, base=2, cap=5) == 5
    assert backoff_seconds(2, base=2, cap=5) == 4


def test_backoff_jitter_spreads_between_half_and_full():
    assert backoff_seconds(3, jitter=0.0) == 120
    assert backoff_seconds(3, jitter=1.0) == 60
    assert backoff_seconds(3, jitter=0.5) == 90


@pytest.mark.parametrize(
    "kwargs", [{"attempt": 0}, {"attempt": -1}, {"attempt": 1, "jitter": 1.5},
               {"attempt": 1, "jitter": -0.1}, {"attempt": 1, "base": 10, "cap": 5},
               {"attempt": True}]
)
def test_backoff_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        backoff_seconds(**kwargs)
