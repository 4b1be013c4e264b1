"""Who is asking, and what they may see: bearer-token authentication and tenant scope.

Every API view calls :func:`require` (directly or through the ``@requires`` decorator),
which authenticates the request and checks the role. Services then scope queries
with the returned :class:`Principal`: another tenant's row is reported as 404,
never 403, so its existence does not leak.
"""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field

from flask import request

from .accounts.models import BRAND_EDIT_ROLES, OrgKind, Role, User
from .accounts.service import user_for_token
from .errors import Forbidden, Unauthenticated


@dataclass(frozen=True)
class Principal:
    """The signed-in user with their organisations split by kind and their roles."""

    user: User
    brand_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    factory_ids: frozenset[uuid.UUID] = field(default_factory=frozenset)
    roles: frozenset[Role] = field(default_factory=frozenset)
    brand_roles: frozenset[Role] = field(default_factory=frozenset)
    factory_roles: frozenset[Role] = field(default_factory=frozenset)

    # Read once per request: plain values stay readable after a commit has expired the user.
    @functools.cached_property
    def id(self) -> uuid.UUID:
        return self.user.id

    @functools.cached_property
    def is_platform_admin(self) -> bool:
        return self.user.is_platform_admin

    @property
    def is_brand_user(self) -> bool:
        return bool(self.brand_ids)

    @property
    def is_factory_user(self) -> bool:
        return bool(self.factory_ids)

    @property
    def is_inspector_only(self) -> bool:
        """An inspector with no manager or admin role in a factory sees only their own inspections."""
        return (not self.is_platform_admin and not self.brand_ids
                and Role.inspector in self.factory_roles
                and not ({Role.factory_manager, Role.admin} & self.factory_roles))

    def is_brand_editor(self, brand_id: uuid.UUID) -> bool:
        """Platform admins, and the brand's admins and reviewers, change the brand's data."""
        return self.is_platform_admin or (brand_id in self.brand_ids and bool(self.brand_roles & BRAND_EDIT_ROLES))

    @classmethod
    def of(cls, user: User) -> Principal:
        brands, factories, roles, broles, froles = set(), set(), set(), set(), set()
        for m in user.memberships:
            roles.add(m.role)
            if m.organisation.kind == OrgKind.brand:
                brands.add(m.organisation_id)
                broles.add(m.role)
            else:
                factories.add(m.organisation_id)
                froles.add(m.role)
        return cls(user, frozenset(brands), frozenset(factories), frozenset(roles),
                   frozenset(broles), frozenset(froles))


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


def require(*roles: Role | str, platform_admin: bool = False) -> Principal:
    """Authenticate and check the role. With no roles, any signed-in user passes.

    Raises ``Unauthenticated`` (401) or ``Forbidden`` (403).
    """
    p = current_principal()
    if p.is_platform_admin:
        return p
    if platform_admin:
        raise Forbidden("Only a platform administrator may do this.")
    wanted = {Role(r) for r in roles}
    if wanted and not (wanted & p.roles):
        raise Forbidden("Your role may not do this.")
    return p
