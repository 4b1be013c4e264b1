"""Parity: the same change through the API and through a sync push gets the same decision and leaves the same row.

An exhaustive table: every role (the assigned inspector, the factory's manager, the brand's
reviewer, a platform admin, an inspector of the factory who is not assigned) × every
inspection status × every change a phone can make through both paths (create a response, a
measurement and a defect; change and delete a defect; start, submit and sign off). Each
change goes to one of two twin inspections through the API and to the other through sync,
both put in the same state first, so neither path sees the other's effects.
"""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from server.extensions import db
from server.inspect.models import ChecklistResponse, Defect, Inspection, Measurement
from server.inspect.rules import STATUSES
from tests.sync.support import SyncClient, new_id

API = "/api/v1"
ROLES = ("inspector", "manager", "reviewer", "admin", "outsider")
LOGINS = {"inspector": ("inspector@demo.lineside.test", "demo-inspector"),
          "manager": ("manager@demo.lineside.test", "demo-manager"),
          "reviewer": ("reviewer@demo.lineside.test", "demo-reviewer"),
          "admin": ("admin@demo.lineside.test", "demo-admin"),
          "outsider": ("outsider@demo.lineside.test", "outsider-password-1")}
COLUMNS = {"response": ("item_key", "value", "passed", "unit_index", "note", "deleted"),
           "measurement": ("dimension_spec_id", "unit_index", "value_entered", "unit_entered", "value_si",
                           "in_tolerance", "source", "deleted"),
           "defect": ("code", "defect_class", "count", "unit_index", "note", "deleted")}
MODELS = {"response": ChecklistResponse, "measurement": Measurement, "defect": Defect}
PATHS = {"response": "responses", "measurement": "measurements", "defect": "defects"}
STATUS_VIEWS = {"in_progress": "start", "submitted": "submit", "signed_off": "sign-off"}


def _outsider(demo):
    from server.accounts.models import Organisation, Role
    from server.accounts.service import add_membership, create_user

    user = create_user(*LOGINS["outsider"], "Otto Outsider")
    add_membership(user, db.session.get(Organisation, demo("org:factory")), Role.inspector)
    db.session.commit()


def _decision(api_response) -> str:
    """The API's answer in the sync protocol's words."""
    code = api_response.status_code
    if code in (200, 201, 204):
        return "applied"
    body = api_response.get_json() or {}
    if code == 422 and "can no longer change" in str(body.get("errors", {}).get("inspection_id", "")):
        return "signed_off"
    return {403: "forbidden", 404: "not_found", 422: "invalid"}.get(code, f"http {code}")


def _sync_decision(result: dict) -> str:
    return result["status"] if result["status"] != "rejected" else result["reason"]


def _row(entity: str, rid: str):
    db.session.expire_all()
    row = db.session.get(MODELS[entity], uuid.UUID(rid))
    return None if row is None else tuple(getattr(row, c) for c in COLUMNS[entity])


def _reset(twins: list[str], status: str) -> None:
    db.session.expire_all()
    for insp_id in twins:
        insp = db.session.get(Inspection, uuid.UUID(insp_id))
        insp.status, insp.started_at, insp.signed_off_at = status, None, None
        insp.switching_recorded_at = None
    db.session.commit()


def _twin_defects(twins: list[str]) -> list[str]:
    ids = []
    for insp_id in twins:
        d = Defect(id=uuid.uuid4(), inspection_id=uuid.UUID(insp_id), code="dent", defect_class="major", count=1,
                   unit_index=3, note="")
        db.session.add(d)
        ids.append(str(d.id))
    db.session.commit()
    return ids


def _creates(demo) -> dict[str, dict]:
    return {"response": {"item_key": "surface", "value": "no", "unit_index": 4, "note": "rim"},
            "measurement": {"dimension_spec_id": str(demo("spec:length")), "unit_index": 1, "value_entered": 4.75,
                            "unit_entered": "in"},
            "defect": {"code": "sharp_edge", "count": 2, "unit_index": 9}}


@pytest.mark.parametrize("role", ROLES)
def test_api_and_sync_decide_alike_for_every_role_state_and_change(client, demo, login, role):
    if role == "outsider":
        _outsider(demo)
    headers = login(*LOGINS[role])
    phone = SyncClient(client, headers)
    via_api, via_sync = str(demo("inspection:inline:A")), str(demo("inspection:final:B"))
    twins = [via_api, via_sync]
    mismatches = []

    def compare(what: str, api_answer, sync_result: dict, rows=None):
        decided = (_decision(api_answer), _sync_decision(sync_result))
        if decided[0] != decided[1]:
            mismatches.append(f"{role} / {what}: API {decided[0]} ({api_answer.status_code}), sync {decided[1]}")
        elif rows is not None and rows[0] != rows[1]:
            mismatches.append(f"{role} / {what}: rows differ: API {rows[0]}, sync {rows[1]}")

    for status in STATUSES:
        for entity, fields in _creates(demo).items():
            _reset(twins, status)
            a, b = new_id(), new_id()
            api = client.post(f"{API}/inspections/{via_api}/{PATHS[entity]}", headers=headers, json={"id": a, **fields})
            res = phone.push([phone.mutation(entity, b, {"inspection_id": via_sync, **fields}, base_rev=None)]
                             ).get_json()["results"][0]
            compare(f"{status} create {entity}", api, res, (_row(entity, a), _row(entity, b)))
        _reset(twins, status)
        a, b = _twin_defects(twins)
        rev = db.session.get(Defect, uuid.UUID(b)).rev
        api = client.patch(f"{API}/inspections/{via_api}/defects/{a}", headers=headers, json={"count": 5})
        res = phone.push([phone.mutation("defect", b, {"count": 5}, base_rev=rev)]).get_json()["results"][0]
        compare(f"{status} change defect", api, res, (_row("defect", a), _row("defect", b)))
        _reset(twins, status)
        a, b = _twin_defects(twins)
        rev = db.session.get(Defect, uuid.UUID(b)).rev
        api = client.delete(f"{API}/inspections/{via_api}/defects/{a}", headers=headers)
        res = phone.push([phone.mutation("defect", b, op="delete", base_rev=rev)]).get_json()["results"][0]
        compare(f"{status} delete defect", api, res, (_row("defect", a), _row("defect", b)))
        for target, view in STATUS_VIEWS.items():
            _reset(twins, status)
            seen = db.session.get(Inspection, uuid.UUID(via_sync)).rev  # the phone has pulled the reset
            api = client.post(f"{API}/inspections/{via_api}/{view}", headers=headers)
            res = phone.push([phone.mutation("inspection", via_sync, {"status": target}, base_rev=seen)]
                             ).get_json()["results"][0]
            db.session.expire_all()
            states = [db.session.scalar(select(Inspection.status).where(Inspection.id == uuid.UUID(i))) for i in twins]
            compare(f"{status} -> {target}", api, res, (states[0], states[1]))
    assert not mismatches, "\n".join(mismatches)
