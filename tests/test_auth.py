"""Roles belong to a membership: what a user may do is asked per organisation."""
from __future__ import annotations

import uuid
from types import SimpleNamespace

from server.accounts.models import OrgKind, Role
from server.auth import GRANTS, Action, Principal

BRAND_A, BRAND_B, FACTORY_A, FACTORY_B = (uuid.uuid4() for _ in range(4))
KINDS = {BRAND_A: OrgKind.brand, BRAND_B: OrgKind.brand, FACTORY_A: OrgKind.factory, FACTORY_B: OrgKind.factory}


def principal(*memberships: tuple[uuid.UUID, Role], platform_admin: bool = False) -> Principal:
    user = SimpleNamespace(id=uuid.uuid4(), is_platform_admin=platform_admin, memberships=[
        SimpleNamespace(organisation_id=org, organisation=SimpleNamespace(kind=KINDS[org]), role=role)
        for org, role in memberships])
    return Principal.of(user)


def test_a_role_in_one_organisation_does_not_count_in_another():
    p = principal((FACTORY_A, Role.factory_manager), (FACTORY_B, Role.inspector),
                  (BRAND_A, Role.brand_reviewer), (BRAND_B, Role.inspector))
    assert p.roles_in(FACTORY_A) == {Role.factory_manager}
    assert p.roles_in(FACTORY_B) == {Role.inspector}
    assert p.may(Action.manage_factory, FACTORY_A) and not p.may(Action.manage_factory, FACTORY_B)
    assert p.may(Action.inspect, FACTORY_B) and p.may(Action.inspect, FACTORY_A)  # managers may be assigned
    assert not p.may(Action.inspect, BRAND_B)  # an 'inspector' of a brand inspects no factory's goods
    assert p.may(Action.edit_brand, BRAND_A) and not p.may(Action.edit_brand, BRAND_B)
    assert p.is_brand_editor(BRAND_A) and not p.is_brand_editor(BRAND_B)
    assert p.managed_factory_ids == {FACTORY_A}
    assert p.sees_whole_po(BRAND_B, FACTORY_B)  # a member of the brand reads its POs
    assert not p.sees_whole_po(uuid.uuid4(), FACTORY_B)  # an inspector there sees only their inspections
    assert p.sees_whole_po(uuid.uuid4(), FACTORY_A)


def test_an_admin_of_a_factory_is_no_brand_editor_and_the_reverse():
    p = principal((FACTORY_A, Role.admin), (BRAND_A, Role.admin))
    assert p.may(Action.manage_factory, FACTORY_A) and not p.may(Action.manage_factory, BRAND_A)
    assert p.may(Action.edit_brand, BRAND_A) and not p.may(Action.edit_brand, FACTORY_A)
    assert p.orgs_where(Action.administer) == {FACTORY_A, BRAND_A}


def test_no_membership_no_rights_and_platform_admin_may_everything():
    nobody = principal()
    admin = principal(platform_admin=True)
    for action in Action:
        assert not nobody.may(action, BRAND_A)
        assert admin.may(action, BRAND_A)
        assert not nobody.may(action, None)
    assert nobody.roles_in(BRAND_A) == frozenset()


def test_every_action_has_a_grant():
    assert set(GRANTS) == set(Action)


def test_the_roles_page_lists_the_grants():
    import re
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "roles.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| ([a-z_, ]+) \|", page, re.M)
    documented = {action: (kind, {r.strip() for r in roles.split(",")}) for action, kind, roles in rows}
    assert documented == {a.value: (k.value if k else "any", {r.value for r in roles})
                          for a, (k, roles) in GRANTS.items()}
