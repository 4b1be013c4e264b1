"""The PO timeline shows the verdict that stands: a lot the brand released is not shown as failed."""
from __future__ import annotations

from server.extensions import db
from server.inspect.models import Defect, Inspection
from server.inspect.service import recompute_verdict


def test_timeline_shows_the_brands_override_over_the_computed_fail(client, as_reviewer, demo):
    insp_id = demo("inspection:inline:A")
    db.session.add(Defect(inspection_id=insp_id, code="chip", defect_class="critical", count=1, unit_index=1))
    recompute_verdict(db.session.get(Inspection, insp_id))
    db.session.commit()
    po = demo("po:42")
    r = client.post(f"/api/v1/inspections/{insp_id}/verdict-override", headers=as_reviewer,
                    json={"verdict": "pass", "reason": "Released by the brand after a re-check"})
    assert r.status_code == 200, r.get_json()
    assert db.session.get(Inspection, insp_id).verdict == "fail"  # computed; the override stands
    body = client.get(f"/api/v1/purchase-orders/{po}/timeline", headers=as_reviewer).get_json()
    listed = [i for i in body["inspections"] if i["id"] == str(insp_id)][0]
    assert listed["verdict"] == "pass" and listed["computed_verdict"] == "fail"
    milestone = [m for m in body["milestones"] if m["details"].get("inspection_id") == str(insp_id)][0]
    assert milestone["details"]["verdict"] == "pass"
