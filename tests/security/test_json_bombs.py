"""JSON bombs and odd envelopes answer a clear 4xx problem+json, never a 500."""
from __future__ import annotations

import json

import pytest

from server.input_guard import json_depth


def nested(depth: int, leaf: str = "1") -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


def test_depth_counts_brackets_outside_strings_only():
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{"}], "c": "\\"["}') == 3
    assert json_depth(b"[]") == 1
    assert json_depth(b'"no brackets"') == 0
    assert json_depth(nested(5000)) == 5000


@pytest.mark.parametrize("depth", [65, 1000, 1025, 100_000])
def test_deep_login_body_is_refused_with_422_before_parsing(client, depth):
    body = b'{"email": "a@b.test", "password": ' + nested(depth) + b"}"
    r = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert r.status_code == 422, r.get_data()
    assert r.mimetype == "application/problem+json"
    assert r.get_json()["errors"] == {"json": ["Nested more than 64 levels deep."]}


@pytest.mark.parametrize("depth", [1025, 50_000])
def test_deep_push_is_refused_with_422(client, as_inspector, depth):
    body = b'{"protocol": 1, "client_id": "x", "mutations": ' + nested(depth) + b"}"
    for content_type in ("application/json", "text/plain"):  # the push reads JSON whatever the type
        r = client.post("/api/v1/sync/push", data=body, content_type=content_type, headers=as_inspector)
        assert r.status_code == 422, r.get_data()
        assert r.mimetype == "application/problem+json"
        assert "json" in r.get_json()["errors"]


def test_moderately_nested_body_is_still_read(client, demo):
    # 60 levels is within the limit: the body is parsed and judged on its fields (an unknown field)
    body = {"email": "inspector@demo.lineside.test", "password": "wrong", "device": "x"}
    raw = json.dumps(body)[:-1] + ', "extra": ' + nested(60).decode() + "}"
    r = client.post("/api/v1/auth/login", data=raw, content_type="application/json")
    assert r.status_code == 422 and "extra" in r.get_json()["errors"]["json"], r.get_json()


def test_mutations_as_a_long_string_is_422_not_413(client, as_inspector):
    from server.sync.service import PROTOCOL_VERSION

    r = client.post("/api/v1/sync/push", headers=as_inspector,
                    json={"protocol": PROTOCOL_VERSION, "client_id": "00000000-0000-4000-8000-000000000001",
                          "mutations": "x" * 600})
    assert r.status_code == 422, r.get_json()
    assert "mutations" in r.get_json()["errors"]


def test_json_loads_turns_a_stack_overflow_into_value_error():
    from server.jsontext import json_loads

    with pytest.raises(ValueError):
        json_loads(nested(200_000))
