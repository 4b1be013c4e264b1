"""The inspector's drawn signature travels with the sign-off and shows in the report."""
from __future__ import annotations

import uuid

from server.extensions import db
from server.inspect.models import Inspection


def signature(**over) -> dict:
    sig = {"name": "Ivan Inspector", "signed_at": "2026-12-04T10:42:00+00:00", "width": 320, "height": 120,
           "strokes": [[[10, 60], [40.25, 30], [80, 90]], [[100, 20], [140, 100]]]}
    sig.update(over)
    return sig


def stored(insp: str) -> Inspection:
    db.session.expire_all()
    row = db.session.get(Inspection, uuid.UUID(insp))
    db.session.rollback()
    return row


def test_the_signature_is_stored_pulled_and_shown_in_the_report(client, phone, insp, as_reviewer):
    r = phone.push([phone.mutation("inspection", insp, {"status": "signed_off", "signature": signature()})])
    assert r.get_json()["results"][0]["status"] == "applied"
    row = stored(insp)
    assert row.status == "signed_off" and row.signature["name"] == "Ivan Inspector"
    assert row.signature["strokes"][0] == [[10.0, 60.0], [40.2, 30.0], [80.0, 90.0]]
    phone.pull_all()
    assert phone.get("inspection", insp)["fields"]["signature"]["width"] == 320
    html = client.get(f"/api/v1/inspections/{insp}/report", headers=as_reviewer).get_data(as_text=True)
    assert 'data-testid="signature"' in html and 'points="10.0,60.0 40.2,30.0 80.0,90.0 "' in html
    assert "Signed by Ivan Inspector, 2026-12-04 10:42 UTC" in html


def test_a_signature_without_the_sign_off_or_out_of_shape_is_refused(phone, insp):
    bad = [
        {"signature": signature()},  # not signing off
        {"status": "signed_off", "signature": signature(strokes=[])},
        {"status": "signed_off", "signature": signature(strokes=[[[10, 500]]])},  # outside the pad
        {"status": "signed_off", "signature": signature(name=" ")},
        {"status": "signed_off", "signature": "<svg onload=alert(1)>"},
    ]
    results = phone.push([phone.mutation("inspection", insp, f) for f in bad]).get_json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * len(bad)
    assert all("signature" in (r.get("errors") or {}) for r in results), results
    assert stored(insp).status != "signed_off" and stored(insp).signature is None
