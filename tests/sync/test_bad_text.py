"""Text no database can store (NUL, lone surrogates) rejects only the mutation that carries it."""
from __future__ import annotations

import uuid

from server.inspect.models import ChecklistResponse, Comment, Photo
from server.sync.models import AuditEvent
from tests.sync.support import count, new_id, response_fields


def test_a_nul_in_a_note_rejects_that_mutation_and_the_rest_apply(phone, insp):
    bad, good = new_id(), new_id()
    results = phone.push([phone.mutation("response", bad, response_fields(insp, note="chipped\x00corner")),
                          phone.mutation("response", good, response_fields(insp, item_key="remarks", value="fine"))]
                         ).get_json()["results"]
    assert [r["status"] for r in results] == ["rejected", "applied"]
    assert results[0]["reason"] == "invalid" and set(results[0]["errors"]) == {"note"}
    assert count(ChecklistResponse, ChecklistResponse.id == uuid.UUID(bad)) == 0
    assert count(ChecklistResponse, ChecklistResponse.id == uuid.UUID(good)) == 1


def test_a_rejected_bad_text_mutation_answers_the_same_when_replayed(phone, insp):
    m = phone.mutation("comment", new_id(), {"inspection_id": insp, "body": "lone \ud83d half"})
    first = phone.push([m]).get_json()["results"][0]
    assert first["status"] == "rejected" and set(first["errors"]) == {"body"}
    again = phone.push([m]).get_json()["results"][0]
    assert again["status"] == "duplicate" and again["original_status"] == "rejected"
    assert count(Comment) == 0


def test_bad_text_nested_in_a_json_field_names_the_field(phone, insp):
    pid = new_id()
    fields = {"inspection_id": insp, "sha256": "f" * 64, "size_bytes": 10, "content_type": "image/jpeg",
              "location": {"label": "bay\x003"}}
    result = phone.push([phone.mutation("photo", pid, fields)]).get_json()["results"][0]
    assert result["status"] == "rejected" and set(result["errors"]) == {"location"}
    assert count(Photo, Photo.id == uuid.UUID(pid)) == 0


def test_a_nul_in_the_entity_name_is_still_recorded_as_rejected(phone, insp):
    mid = new_id()
    m = {**phone.mutation("response", new_id(), response_fields(insp)), "mutation_id": mid, "entity": "resp\x00onse"}
    r = phone.push([m])
    assert r.status_code == 200
    assert r.get_json()["results"][0]["status"] == "rejected"
    assert count(AuditEvent, AuditEvent.mutation_id == uuid.UUID(mid)) == 1
