"""The PWA's files and how the server serves them: CSP, no HTML injection, precache list,
manifest, translations, API docs page. No browser needed."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PWA = Path(__file__).resolve().parents[2] / "pwa"
HTML_SINKS = re.compile(r"\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|createContextualFragment")


def _sources():
    return sorted(p for p in PWA.rglob("*") if p.suffix in {".js", ".html"} and "node_modules" not in p.parts)


def _shell_list(name: str = "APP_SHELL") -> list[str]:
    text = (PWA / "sw.js").read_text()
    block = re.search(rf"const {name} = \[(.*?)\];", text, re.S).group(1)
    return re.findall(r"'([^']+)'", block)


def test_only_the_html_helper_writes_markup():
    offenders = [f"{p.relative_to(PWA)}:{n}" for p in _sources() if p.name != "html.js"
                 for n, line in enumerate(p.read_text().splitlines(), 1) if HTML_SINKS.search(line)]
    assert offenders == []


def test_html_helper_escapes_every_interpolated_value():
    text = (PWA / "lib" / "html.js").read_text()
    assert text.count("innerHTML") == 1  # the single, documented sink in render()
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#39;")):
        assert f"'{char}': '{entity}'" in text or f"\"{char}\": '{entity}'" in text or f"'{char}': \"{entity}\"" in text


def test_no_inline_scripts_styles_or_handlers_in_markup():
    for p in _sources():
        text = p.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), p
        assert "<style" not in text, p
        assert not re.search(r"\sstyle=\"", text), p
        assert not re.search(r"\son[a-z]+=\"", text), p


def test_index_loads_one_module():
    index = (PWA / "index.html").read_text()
    assert len(re.findall(r"<script\b", index)) == 1
    assert '<script type="module" src="/app/app.js">' in index


def test_service_worker_precaches_every_shell_file():
    # Every file is either precached (APP_SHELL) or a reviewer/manager screen cached on first use
    # (ON_DEMAND), never both; nothing an inspector needs offline is on demand.
    on_demand = set(_shell_list("ON_DEMAND"))
    assert on_demand and on_demand & set(_shell_list()) == set()
    assert all(u.startswith(("/app/views/po-", "/app/views/review-", "/app/views/report-")) for u in on_demand), on_demand
    shell = set(_shell_list()) | on_demand
    wanted = {"/", "/manifest.webmanifest", "/data/aql_iso2859.json", "/data/defect_library.json"}
    for p in PWA.rglob("*"):
        rel = p.relative_to(PWA).as_posix()
        if p.is_file() and not rel.startswith("docs/") and rel not in {"index.html", "sw.js", "manifest.webmanifest"}:
            wanted.add(f"/app/{rel}")
    assert wanted - shell == set(), "files missing from APP_SHELL"
    assert shell - wanted == set(), "APP_SHELL names files that do not exist"


def test_service_worker_keeps_to_the_rules():
    sw = (PWA / "sw.js").read_text()
    assert len(re.findall(r"^const VERSION = ", sw, re.M)) == 1
    assert "cache.addAll(" in sw
    assert re.search(r"skipWaiting\(\)", sw) and "type === 'skip-waiting'" in sw  # only on the user's word
    install = sw[sw.index("addEventListener('install'"):sw.index("addEventListener('activate'")]
    assert "skipWaiting()" not in install.replace("// No skipWaiting", "")
    assert "request.method !== 'GET'" in sw and "startsWith('/api/')" in sw and "url.origin !== self.location.origin" in sw


@pytest.mark.parametrize("lang", ["zh-CN"])
def test_every_string_is_translated(lang):
    key = re.compile(r"^\s*'([\w.]+)':", re.M)
    en = set(key.findall((PWA / "i18n" / "en.js").read_text()))
    other = set(key.findall((PWA / "i18n" / f"{lang}.js").read_text()))
    assert en - other == set()
    assert other - en == set()


def test_every_key_the_code_uses_exists():
    en = set(re.findall(r"^\s*'([\w.]+)':", (PWA / "i18n" / "en.js").read_text(), re.M))
    used = set()
    for p in _sources():
        used |= set(re.findall(r"\bt\('([\w.]+)'", p.read_text()))
    assert used - en == set()


def test_pages_answer_with_a_strict_csp(client):
    for path in ("/", "/sw.js", "/app/app.js", "/manifest.webmanifest", "/api/docs"):
        with client.get(path) as r:  # file answers hold their file open until closed
            assert r.status_code == 200, path
        csp = r.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp


def test_service_worker_is_served_for_the_whole_site(client):
    with client.get("/sw.js") as r:
        assert r.headers["Service-Worker-Allowed"] == "/"
    assert r.mimetype == "text/javascript"
    assert r.headers["Cache-Control"] == "no-cache"


def test_manifest_makes_the_app_installable(client):
    with client.get("/manifest.webmanifest") as r:
        assert r.mimetype == "application/manifest+json"
        m = json.loads(r.data)
    assert m["display"] == "standalone" and m["name"] and m["theme_color"] and m["start_url"] == "/"
    sizes = {i["sizes"] for i in m["icons"] if i["type"] == "image/png"}
    assert {"192x192", "512x512"} <= sizes
    for icon in m["icons"]:
        with client.get(icon["src"]) as r:
            assert r.status_code == 200


def test_png_icons_have_their_declared_size():
    import cv2

    for size in (192, 512):
        img = cv2.imread(str(PWA / "icons" / f"icon-{size}.png"))
        assert img.shape[:2] == (size, size)


def test_hidden_files_are_not_served(client):
    for path in ("/app/.git/config", "/app/../server/config.py"):
        with client.get(path) as r:
            assert r.status_code == 404


def test_api_docs_page_uses_local_assets_only(client):
    with client.get("/api/docs") as r:
        page = r.get_data(as_text=True)
    assert "http://" not in page and "https://" not in page
    for src in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert src.startswith("/"), src
        with client.get(src) as r:
            assert r.status_code == 200, src
