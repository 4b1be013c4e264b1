"""Who is asking, and what they may see: bearer-token authentication and tenant scope.

Every API view calls :func:`require`, which authenticates the request. Services then ask
the returned :class:`Principal` what the user may do in the one organisation a row belongs to
(:meth:`Principal.may`, with the :class:`Action` names and the one role table :data:`GRANTS`)
and scope queries with :meth:`Principal.orgs_where`: another tenant's row is reported as 404,
never 403, so its existence does not leak.
"""
from __future__ import annotations

import enum
import functools
import uuid
from dataclasses import dataclass, field

from flask import request

from .accounts.models import OrgKind, Role, User
from .accounts.service import user_for_token
from .errors import Forbidden, Unauthenticated


class Action(str, enum.Enum):
    """What a member may do in one organisation. :data:`GRANTS` says which roles of which kind of
    organisation allow it; every permission check in Lineside asks :meth:`Principal.may`."""

    #: See the organisation's rows (a brand's products, POs, inspections and reports).
    read = "read"
    #: Change a brand's setup data, checklists and POs; approve golden samples; review photos,
    #: override verdicts, decide documents and issues; manage webhooks.
    edit_brand = "edit_brand"
    #: See all of a factory's POs and inspections; schedule, report progress, ship, upload documents,
    #: create batches, write any inspection row of the factory.
    manage_factory = "manage_factory"
    #: Be assigned a factory's inspections and run them (inspectors see only those; a manager may be
    #: assigned too).
    inspect = "inspect"
    #: Manage the organisation's users.
    administer = "administer"


#: The one table of role sets: action -> (kind of organisation it applies to, or None for any;
#: the roles in that organisation that grant it).
GRANTS: dict[Action, tuple[OrgKind | None, frozenset[Role]]] = {
    Action.read: (None, frozenset(Role)),
    Action.edit_brand: (OrgKind.brand, frozenset({Role.admin, Role.brand_reviewer})),
    Action.manage_factory: (OrgKind.factory, frozenset({Role.admin, Role.factory_manager})),
    Action.inspect: (OrgKind.factory, frozenset({Role.inspector, Role.factory_manager})),
    Action.administer: (None, frozenset({Role.admin})),
}


def roles_granting(action: Action) -> frozenset[Role]:
    """The roles that allow ``action`` (in an organisation of the kind :data:`GRANTS` names), for
    queries over memberships such as "who reviews for this brand"."""
    return GRANTS[action][1]


@dataclass(frozen=True, eq=False)
class Principal:
    """The signed-in user and, per organisation they belong to, its kind and their roles there.

    Every permission asks about one organisation: :meth:`may` (``may(Action.edit_brand, brand_id)``),
    :meth:`roles_in`, or :meth:`orgs_where` to scope a query. Roles held in one organisation
    never count in another.
    """

    user: User
    #: organisation id -> (its kind, the user's roles in it)
    orgs: dict[uuid.UUID, tuple[OrgKind, frozenset[Role]]] = field(default_factory=dict)

    # Read once per request: plain values stay readable after a commit has expired the user.
    @functools.cached_property
    def id(self) -> uuid.UUID:
        return self.user.id

    @functools.cached_property
    def is_platform_admin(self) -> bool:
        return self.user.is_platform_admin

    def roles_in(self, org_id: uuid.UUID | None) -> frozenset[Role]:
        """The user's roles in one organisation (empty when not a member)."""
        entry = self.orgs.get(org_id) if org_id is not None else None
        return entry[1] if entry else frozenset()

    def may(self, action: Action, org_id: uuid.UUID | None) -> bool:
        """Whether the user may do ``action`` in the organisation ``org_id``. Platform admins may do anything."""
        if self.is_platform_admin:
            return True
        return org_id is not None and org_id in self.orgs_where(action)

    def orgs_where(self, action: Action) -> frozenset[uuid.UUID]:
        """The organisations in which the user may do ``action`` (membership only: platform admins
        are not given every organisation here; scope queries check :attr:`is_platform_admin` first)."""
        cached = self._orgs_where.get(action)
        if cached is None:
            kind, roles = GRANTS[action]
            cached = frozenset(org for org, (k, held) in self.orgs.items()
                               if (kind is None or k == kind) and held & roles)
            self._orgs_where[action] = cached
        return cached

    @functools.cached_property
    def _orgs_where(self) -> dict[Action, frozenset[uuid.UUID]]:
        return {}

    @functools.cached_property
    def brand_ids(self) -> frozenset[uuid.UUID]:
        """Brands the user belongs to, in any role: they read those brands' rows."""
        return frozenset(o for o, (k, _) in self.orgs.items() if k == OrgKind.brand)

    @functools.cached_property
    def factory_ids(self) -> frozenset[uuid.UUID]:
        """Factories the user belongs to, in any role (what they see there depends on the role)."""
        return frozenset(o for o, (k, _) in self.orgs.items() if k == OrgKind.factory)

    @property
    def managed_factory_ids(self) -> frozenset[uuid.UUID]:
        """Factories whose POs and inspections the user sees whole (their managers and admins)."""
        return self.orgs_where(Action.manage_factory)

    def sees_whole_po(self, brand_id: uuid.UUID | None, factory_id: uuid.UUID | None) -> bool:
        """Whether the user sees all of a PO (its brand's members, its factory's managers, platform
        admins) rather than only what concerns the inspections assigned to them."""
        return (self.is_platform_admin or brand_id in self.brand_ids
                or self.may(Action.manage_factory, factory_id))

    def is_brand_editor(self, brand_id: uuid.UUID | None) -> bool:
        """Platform admins, and the brand's admins and reviewers, change the brand's data."""
        return self.may(Action.edit_brand, brand_id)

    def check(self, action: Action, org_id: uuid.UUID | None, message: str) -> None:
        """Raise ``Forbidden`` with ``message`` unless the user may do ``action`` in ``org_id``.

        For a row the caller already found visible; a row out of scope is ``NotFound`` before this.
        """
        if not self.may(action, org_id):
            raise Forbidden(message)

    @classmethod
    def of(cls, user: User) -> Principal:
        """The principal of ``user``, with their roles grouped per organisation."""
        orgs: dict[uuid.UUID, tuple[OrgKind, set[Role]]] = {}
        for m in user.memberships:
            orgs.setdefault(m.organisation_id, (m.organisation.kind, set()))[1].add(m.role)
        p = cls(user, {org: (kind, frozenset(roles)) for org, (kind, roles) in orgs.items()})
        # Read the plain values now, while the user is loaded: after a commit (or a rollback) has
        # expired the user, reading them would open a new transaction, e.g. in the request log.
        p.id, p.is_platform_admin  # noqa: B018
        return p


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def current_principal() -> Principal:
    """Authenticate the request. Raises ``Unauthenticated`` without a valid token."""
    # Cached per request (not on ``g``, which can outlive a request when an app context is already active).
    cached = request.environ.get("lineside.principal")
    if cached is None:
        token = bearer_token()
        if token is None:
            raise Unauthenticated("Sign in first: send 'Authorization: Bearer <token>'.")
        cached = request.environ["lineside.principal"] = Principal.of(user_for_token(token))
    return cached


def require(*, platform_admin: bool = False, action: Action | None = None) -> Principal:
    """Authenticate. With ``action``, the user must be allowed it in at least one organisation (the
    service then checks the organisation the row belongs to); with ``platform_admin``, be one.

    Raises ``Unauthenticated`` (401) or ``Forbidden`` (403).
    """
    p = current_principal()
    if p.is_platform_admin:
        return p
    if platform_admin:
        raise Forbidden("Only a platform administrator may do this.")
    if action is not None and not p.orgs_where(action):
        raise Forbidden("Your role may not do this.")
    return p
