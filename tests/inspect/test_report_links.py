"""A revoked or unknown report link answers a page in words; report tables scroll on a phone."""
from __future__ import annotations

API = "/api/v1"


def test_a_revoked_share_link_shows_a_page_not_json(client, as_reviewer, demo):
    iid = demo("inspection:inline:A")
    link = client.post(f"{API}/inspections/{iid}/share-links", json={}, headers=as_reviewer).get_json()
    path = "/" + link["url"].split("://", 1)[1].split("/", 1)[1]
    assert client.delete(f"{API}/inspections/{iid}/share-links/{link['id']}", headers=as_reviewer).status_code == 204
    for url in (path, "/r/not-a-real-token"):
        r = client.get(url)
        assert r.status_code == 404 and r.mimetype == "text/html", url
        body = r.get_data(as_text=True)
        assert "This report link is no longer available" in body and "<script" not in body
        assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
        assert r.headers["Referrer-Policy"] == "no-referrer"


def test_report_tables_scroll_sideways_on_a_phone(client):
    css = client.get("/reports/report.css").get_data(as_text=True)
    assert "@media screen and (max-width: 48rem)" in css and "overflow-x: auto" in css
