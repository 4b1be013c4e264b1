"""docs/rules.md is generated from the registered rules; it must match the code."""
from __future__ import annotations

from server.sync.rulebook import PAGE, render


def test_the_rules_page_is_up_to_date(app):
    assert PAGE.read_text(encoding="utf-8") == render(), "docs/rules.md is stale: run `flask --app server rules-doc`"


def test_the_rules_page_names_every_pushable_entity_and_field(app):
    from server.sync.registry import ENTITIES

    page = render()
    for ent in ENTITIES.values():
        if ent.pushable:
            assert f"## `{ent.name}`" in page
            for name in ent.fields:
                assert f"| `{name}` |" in page


def test_the_check_command_fails_on_a_stale_page(runner, tmp_path, monkeypatch):
    import server.sync.rulebook as rulebook

    stale = tmp_path / "rules.md"
    stale.write_text("old", encoding="utf-8")
    monkeypatch.setattr(rulebook, "PAGE", stale)
    assert runner.invoke(args=["rules-doc", "--check"]).exit_code != 0
    assert runner.invoke(args=["rules-doc"]).exit_code == 0
    assert runner.invoke(args=["rules-doc", "--check"]).exit_code == 0
    assert stale.read_text(encoding="utf-8") == render()
