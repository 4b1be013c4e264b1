"""The sync registry: which records sync, their fields, and whose rules decide a push of them.

Sync names no domain entity. At start-up (``create_app``) each domain package registers its
syncable entities with :func:`register` (``server/inspect/sync.py``, ``server/catalog/sync.py``,
``server/timeline/sync.py``). An :class:`Entity` says which model it is, which fields a phone
may write (:class:`~server.fields.FieldSpec` declarations the domain owns), which record it
hangs off (its *owner*, e.g. an inspection) and which :class:`PushRules` decide a mutation of
it. The push planner (:mod:`server.sync.push`) does the protocol — exactly once, merge,
conflicts, bulk writes — and asks the rules everything else.
"""
from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from ..fields import FieldSpec, parse_uuid  # noqa: F401  (parse_uuid re-exported for the planner)


@dataclass
class Owner:
    """The record a pushed row hangs off, as the domain's rules see it.

    ``id`` is what the planner groups touched rows by (handed back to
    :meth:`PushRules.after_batch`); ``log_id`` goes into the ``inspection_id`` column of
    audit events and conflicts (None when the owner is not an inspection); ``state`` is
    whatever the rules want to keep (e.g. an inspection with its PO's brand and factory).
    """

    id: uuid.UUID
    log_id: uuid.UUID | None
    state: Any = None


@dataclass(frozen=True)
class Change:
    """One mutation, cleaned and about to be decided: what :meth:`PushRules.decide` reads."""

    entity: Entity
    op: str  # create, update or delete
    id: uuid.UUID
    fields: dict[str, Any]
    current: dict | None  # the row as the batch holds it (None on create)
    owner: Owner
    sent: frozenset[str]  # field names the phone sent


class PushRules:
    """A domain's decisions on pushes of its entities. The planner calls, per batch:

    1. :meth:`load` once, with the owner ids the batch names (rows already in ``rows``);
    2. per mutation :meth:`owner` then :meth:`decide`;
    3. :meth:`after_batch` once, with the owners the batch changed, before the commit.

    ``decide`` and ``owner`` raise domain errors (:class:`~server.errors.LinesideError`):
    ``NotFound`` answers ``not_found``, ``Forbidden`` ``forbidden``, one whose ``sync_reason``
    attribute is set answers that reason, anything else ``invalid``.
    """

    def load(self, principal: Any, rows: dict[tuple[str, uuid.UUID], dict], owner_ids: set[uuid.UUID]) -> None:
        """Preload what deciding needs for these owners (one query per table, not per mutation)."""

    def owner(self, principal: Any, rows: dict, ent: Entity, rid: uuid.UUID, fields: dict,
              current: dict | None) -> Owner:
        raise NotImplementedError

    def decide(self, principal: Any, rows: dict, change: Change) -> dict[str, Any]:
        """The fields to apply (derived ones included). Raises a domain error to reject the mutation."""
        return change.fields

    def after_batch(self, principal: Any, owner_ids: list[uuid.UUID], written: dict[str, list[dict]] | None,
                    after_rev: int) -> None:
        """The batch's writes are sent: refresh what depends on them (no commit).

        ``written`` holds the rows of this domain's entities the batch wrote (revision above
        ``after_rev``), per entity, when they are all in hand; None when some may have been
        refused and everything must be read back.
        """

    def describe(self, ent: Entity) -> list[str]:
        """Markdown lines for ``docs/rules.md``: who may do what to ``ent``, in which state."""
        return []

    def describe_domain(self) -> list[str]:
        """Markdown lines for ``docs/rules.md`` that hold for all of this domain's entities (once)."""
        return []

    @contextlib.contextmanager
    def batch_scope(self) -> Iterator[None]:
        """Around planning one batch (e.g. memoise read-only lookups)."""
        yield


@dataclass(frozen=True)
class Entity:
    """A protocol entity: its name, model, and (for pushable ones) the writable fields and rules."""

    name: str
    model: type
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    pushable: bool = False
    creatable: bool = True
    deletable: bool = True
    #: fields the server fills on create: name -> f(principal)
    server_set: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    #: the entity this one hangs off and the field naming it (None: the entity is its own owner)
    owner: str | None = None
    owner_field: str | None = None
    rules: PushRules | None = None
    #: old tombstones of it may be purged (``flask sync purge-tombstones``)
    purge: bool = True

    @property
    def table(self):
        return self.model.__table__

    def clean(self, raw: Any, *, creating: bool) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Validate a mutation's ``fields``: only known, writable fields of the right type.

        Returns ``(clean_fields, errors)``; ``errors`` maps field -> messages and is empty
        when everything fits. On create, required fields must be present.
        """
        from ..fields import FieldError

        if not isinstance(raw, dict):
            return {}, {"fields": ["Must be an object."]}
        clean: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        for name, value in raw.items():
            spec = self.fields.get(name)
            if spec is None:
                known = name in self.table.c
                errors[name] = ["Set by the server; phones may not write it." if known else "Unknown field."]
                continue
            try:
                clean[name] = spec.clean(value)
            except FieldError as exc:
                errors[name] = [str(exc)]
        if creating:
            for name, spec in self.fields.items():
                if spec.required and name not in raw:
                    errors.setdefault(name, ["Missing data for required field."])
        return clean, errors


#: Every registered entity by protocol name, in registration order (pull pages follow it).
ENTITIES: dict[str, Entity] = {}


#: The entity whose id audit events and conflicts carry as ``inspection_id`` (set by its domain).
_LOG_OWNER: list[str] = []


def register(*entities: Entity, log_owner: bool = False) -> None:
    """Add (or replace, when the app is built again) entities of a domain.

    ``log_owner``: the first entity is the one whose id the mutation log and the conflict log
    carry (the ``log_id`` of its :class:`Owner`); the conflict log is read per such record.
    """
    for e in entities:
        ENTITIES[e.name] = e
    if log_owner:
        _LOG_OWNER[:] = [entities[0].name]


def log_owner() -> Entity:
    """The entity the conflict log is kept per (see :func:`register`)."""
    return ENTITIES[_LOG_OWNER[0]]


def entity(name: Any) -> Entity | None:
    """The registered entity called ``name``, or None."""
    return ENTITIES.get(name) if isinstance(name, str) else None


def register_own() -> None:
    """Sync's own entity: the conflict log (pulled, never pushed)."""
    from .models import ConflictRecord

    register(Entity("conflict", ConflictRecord, purge=False))
