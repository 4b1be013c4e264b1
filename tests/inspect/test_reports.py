"""The inspection report (HTML for A4 print), share links, photos in the report, CSV exports."""
from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.extensions import db
from server.inspect.models import ChecklistResponse, Defect, Photo, ReportShareLink

API = "/api/v1"


@pytest.fixture
def report_url(demo):
    return f"{API}/inspections/{demo('inspection:inline:A')}/report"


def test_demo_report_renders_with_real_data(client, as_reviewer, report_url):
    r = client.get(report_url, headers=as_reviewer)
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert re.search(r'id="verdict">Verdict: <strong>PASS</strong>', html)
    # plan for lot 2500, level II normal: code K, n 125; major Ac 7 Re 8 with 2 found
    major = re.search(r'<tr class="class-major">(.*?)</tr>', html, re.S).group(1)
    assert re.findall(r'<td[^>]*>([^<]*)</td>', major) == ["2.5", "K", "125", "7", "8", "2", "accepted"]
    assert re.search(r'<td class="num out-of-tolerance"[^>]*>121\.40 ', html)  # unit 3's length, 120 ± 1
    assert '<dd class="inspector">Ivan Inspector</dd>' in html
    assert "photo pending upload" in html


def test_report_page_runs_under_a_strict_csp_with_no_scripts(client, as_reviewer, report_url):
    r = client.get(report_url, headers=as_reviewer)
    html = r.get_data(as_text=True)
    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    with client.get(re.search(r'<link rel="stylesheet" href="([^"]+)"', html).group(1)) as css:
        assert css.status_code == 200 and "@page { size: A4" in css.get_data(as_text=True)


def test_report_escapes_what_users_typed(client, as_reviewer, report_url, demo):
    db.session.get(ChecklistResponse, demo("response:A:remarks")).value = "<img src=x onerror=alert(1)>"
    db.session.commit()
    html = client.get(report_url, headers=as_reviewer).get_data(as_text=True)
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_report_needs_sign_in(client, demo, report_url):
    assert client.get(report_url).status_code == 401


def test_report_shows_the_override_and_sign_off(client, as_reviewer, as_inspector, report_url, demo):
    iid = demo("inspection:inline:A")
    client.post(f"{API}/inspections/{iid}/sign-off", headers=as_inspector)
    client.post(f"{API}/inspections/{iid}/verdict-override", json={"verdict": "fail", "reason": "Chip on rim"},
                headers=as_reviewer)
    html = client.get(report_url, headers=as_reviewer).get_data(as_text=True)
    assert "Verdict: <strong>FAIL</strong>" in html and "computed pass" in html and "Chip on rim" in html
    assert re.search(r"Signed off \d{4}-\d\d-\d\d \d\d:\d\d UTC", html)


def _share(client, headers, demo, **body):
    r = client.post(f"{API}/inspections/{demo('inspection:inline:A')}/share-links", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_share_link_opens_the_report_without_sign_in_until_revoked(client, as_reviewer, demo):
    link = _share(client, as_reviewer, demo)
    path = link["url"].split("://", 1)[1].split("/", 1)[1]
    r = client.get("/" + path)
    assert r.status_code == 200 and "Ivan Inspector" in r.get_data(as_text=True)
    assert r.headers["Referrer-Policy"] == "no-referrer" and r.headers["Cache-Control"] == "no-store"
    token = path.rsplit("/", 1)[1]
    stored = db.session.scalar(select(ReportShareLink))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash
    r = client.delete(f"{API}/inspections/{demo('inspection:inline:A')}/share-links/{link['id']}", headers=as_reviewer)
    assert r.status_code == 204
    assert client.get("/" + path).status_code == 404


def test_expired_share_link_is_not_found(client, as_reviewer, demo):
    link = _share(client, as_reviewer, demo, expires_in_seconds=60)
    row = db.session.scalar(select(ReportShareLink))
    row.expires_at = row.expires_at - timedelta(seconds=120)
    db.session.commit()
    assert client.get("/r/" + link["url"].rsplit("/", 1)[1]).status_code == 404


def test_inspector_cannot_share_the_report(client, as_inspector, demo):
    r = client.post(f"{API}/inspections/{demo('inspection:inline:A')}/share-links", json={}, headers=as_inspector)
    assert r.status_code == 403


def test_unknown_share_token_is_not_found(client, demo):
    assert client.get("/r/not-a-real-token").status_code == 404


def test_stored_photo_appears_in_the_report_and_streams_after_the_check(app, client, as_reviewer, report_url, demo):
    from server.storage.backends import get_storage

    data = b"\xff\xd8\xff\xe0 fake jpeg bytes"
    key = "photos/" + hashlib.sha256(data).hexdigest()
    get_storage().put(key, data, content_type="image/jpeg")
    photo = db.session.get(Photo, demo("photo:A:chip"))
    photo.storage_key, photo.upload_state, photo.sha256 = key, "stored", hashlib.sha256(data).hexdigest()
    db.session.commit()
    html = client.get(report_url, headers=as_reviewer).get_data(as_text=True)
    src = re.search(r'<img class="thumb" src="([^"]+)" alt="Photo of Chipped coating or enamel">', html).group(1)
    r = client.get(src)
    assert r.status_code == 200 and r.get_data() == data and r.mimetype == "image/jpeg"
    assert client.get(src[:-3] + "xyz").status_code == 404  # a tampered token


def _report_photo_src(client, headers, report_url, demo) -> str:
    from server.storage.backends import get_storage

    data = b"\xff\xd8\xff\xe0 fake jpeg bytes"
    key = "photos/" + hashlib.sha256(data).hexdigest()
    get_storage().put(key, data, content_type="image/jpeg")
    photo = db.session.get(Photo, demo("photo:A:chip"))
    photo.storage_key, photo.upload_state, photo.sha256 = key, "stored", hashlib.sha256(data).hexdigest()
    db.session.commit()
    html = client.get(report_url, headers=headers).get_data(as_text=True)
    return re.search(r'<img class="thumb" src="([^"]+)" alt="Photo of Chipped coating or enamel">', html).group(1)


def test_signed_in_report_photo_links_end_with_sign_out(client, as_reviewer, report_url, demo):
    src = _report_photo_src(client, as_reviewer, report_url, demo)
    assert client.get(src).status_code == 200
    assert client.post(f"{API}/auth/logout", headers=as_reviewer).status_code == 204
    assert client.get(src).status_code == 404


def test_signed_in_report_photo_links_end_with_deactivation_and_after_an_hour(client, as_reviewer, report_url,
                                                                             demo, monkeypatch):
    import time

    from server.accounts.models import User

    src = _report_photo_src(client, as_reviewer, report_url, demo)
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3601)  # itsdangerous reads the clock through time.time
    assert client.get(src).status_code == 404
    monkeypatch.setattr(time, "time", lambda: now)
    assert client.get(src).status_code == 200
    user = db.session.scalar(select(User).where(User.email == "reviewer@demo.lineside.test"))
    user.is_active = False
    db.session.commit()
    assert client.get(src).status_code == 404


def test_measurements_csv_lists_every_measurement(client, as_reviewer, demo):
    r = client.get(f"{API}/inspections/{demo('inspection:inline:A')}/measurements.csv", headers=as_reviewer)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == 15
    out = [row for row in rows if row["in_tolerance"] == "no"]
    assert [(o["unit_index"], o["dimension"], o["value_mm"]) for o in out] == [("2", "length", "121.4")]


def test_csv_cells_cannot_start_a_formula(client, as_reviewer, demo):
    db.session.get(Defect, demo("defect:A:chip")).note = "=HYPERLINK(\"http://evil\",\"x\")"
    db.session.get(Defect, demo("defect:A:scratch")).note = "@SUM(A1)"
    db.session.commit()
    r = client.get(f"{API}/inspections/{demo('inspection:inline:A')}/defects.csv", headers=as_reviewer)
    notes = [row["note"] for row in csv.DictReader(io.StringIO(r.get_data(as_text=True)))]
    assert sorted(notes) == sorted(["'=HYPERLINK(\"http://evil\",\"x\")", "'@SUM(A1)"])


def _row(html: str, label: str) -> str:
    return re.search(r'<tr class="item-[a-z]+">\s*<th scope="row">' + re.escape(label) + r'.*?</tr>', html, re.S).group(0)


def test_items_answered_by_measurements_or_photos_are_not_reported_unanswered(client, as_reviewer, report_url):
    html = client.get(report_url, headers=as_reviewer).get_data(as_text=True)
    length = _row(html, "Length")  # measured per unit in the demo, no checklist answer
    assert "not answered" not in length and 'class="item-' in length
    assert "120.20 mm" in length or "#0:" in length
    unit_photo = _row(html, "Photo of a unit on the inspection card")  # one photo, not analysed yet
    assert "not answered" not in unit_photo


def test_a_failed_photo_or_measurement_marks_its_item_failed(client, as_reviewer, report_url, demo):
    photo = db.session.get(Photo, demo("photo:A:unit"))
    photo.analysis_status, photo.upload_state = "fail", "analysed"
    db.session.commit()
    html = client.get(report_url, headers=as_reviewer).get_data(as_text=True)
    assert _row(html, "Photo of a unit on the inspection card").startswith('<tr class="item-fail">')
    assert _row(html, "Length").startswith('<tr class="item-fail">')  # unit 3 is 121.40, 120 ± 1


def test_golden_sample_colour_names_its_statistic_a_median(client, as_reviewer, report_url, demo):
    for i, lab in enumerate([[50.0, 1.0, 1.0], [52.0, 3.0, 3.0], [60.0, 5.0, 9.0]]):
        db.session.add(Photo(inspection_id=demo("inspection:inline:A"), item_key="unit_photo", unit_index=10 + i,
                             sha256=f"{i}" * 64, size_bytes=1, content_type="image/jpeg", upload_state="analysed",
                             analysis_status="pass", analysis={"lab": lab}))
    db.session.commit()
    html = client.get(report_url, headers=as_reviewer).get_data(as_text=True)
    colour = re.search(r'<th scope="row">colour \(CIELAB D65\)</th>.*?</tr>', html, re.S).group(0)
    assert "52.0 / 3.0 / 3.0" in colour and "median of 3 photos" in colour
    assert "Measured (mean)" not in html
    length = re.search(r'<table class="golden-table">.*?<th scope="row">length</th>(.*?)</tr>', html, re.S).group(1)
    assert "mean of" in length


def test_a_defect_is_labelled_from_the_products_category(client, as_reviewer, report_url, demo):
    insp_id = demo("inspection:inline:A")
    db.session.add(Defect(inspection_id=insp_id, code="stain", defect_class="minor", count=1, unit_index=5))
    db.session.commit()
    html = client.get(report_url, headers=as_reviewer).get_data(as_text=True)
    assert '<th scope="row">Stain or soiling</th>' in html  # the tray is hard goods
    assert "on packaging" not in html
    rows = list(csv.reader(io.StringIO(client.get(f"{API}/inspections/{insp_id}/defects.csv",
                                                  headers=as_reviewer).get_data(as_text=True))))
    assert ["stain", "Stain or soiling"] == [r for r in rows if r[0] == "stain"][0][:2]
