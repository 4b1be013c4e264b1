"""Shapes of the sync API: the push envelope, results, pull query and page, conflicts.

The envelope is checked here; each mutation inside is checked by the service against the
entity registry (``server.sync.entities``), so one bad mutation is rejected alone instead
of failing the whole batch.
"""
from marshmallow import EXCLUDE, Schema, fields, validate

from ..extensions import ProblemSchema


class MutationSchema(Schema):
    """One change a phone made offline (documented shape; validated per mutation by the service)."""

    mutation_id = fields.UUID(required=True, metadata={"description": "made by the phone, unique per change"})
    entity = fields.String(required=True, metadata={"description": "inspection, response, measurement, defect, "
                                                                   "photo, comment or decision"})
    id = fields.UUID(required=True, metadata={"description": "the record's client-made UUID"})
    op = fields.String(required=True, validate=validate.OneOf(["upsert", "delete"]))
    base_rev = fields.Integer(allow_none=True, metadata={"description": "the revision the phone edited from"})
    fields_ = fields.Dict(data_key="fields", keys=fields.String(), load_default=dict)
    reoffer = fields.Boolean(load_default=False, metadata={
        "description": "after 410 history_diverged: the record as the phone holds it, offered again; created when "
                       "the server lost it, merged from the restore's fork point when the phone's copy is newer, "
                       "else nothing changes; fields the phone may not write are left out, not refused"})


class PushSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    client_id = fields.UUID(required=True, metadata={"description": "the phone's install id"})
    protocol = fields.Integer(required=True, metadata={"description": "sync protocol version (1)"})
    # Raw dicts: each mutation is validated on its own so that a bad one cannot stop the others.
    mutations = fields.List(fields.Dict(), required=True,
                            metadata={"description": "list of Mutation objects, applied in order"})


class PushDocSchema(Schema):
    """The push body as documented in OpenAPI (loading uses :class:`PushSchema`)."""

    client_id = fields.UUID(required=True, metadata={"description": "the phone's install id"})
    protocol = fields.Integer(required=True, metadata={"description": "sync protocol version (1)"})
    mutations = fields.List(fields.Nested(MutationSchema), required=True,
                            metadata={"description": "applied in order; at most SYNC_PUSH_MAX_MUTATIONS"})


class MutationResultSchema(Schema):
    mutation_id = fields.String()
    status = fields.String(metadata={"description": "applied | duplicate | conflict | rejected"})
    original_status = fields.String(metadata={"description": "for duplicates: the status first answered"})
    rev = fields.Integer(allow_none=True)
    reason = fields.String(metadata={"description": "for rejections: invalid | not_found | forbidden | signed_off"})
    detail = fields.String()
    errors = fields.Dict()
    conflicts = fields.List(fields.Dict())
    record = fields.Dict(metadata={"description": "the merged record, as pull would send it"})


class PushResultSchema(Schema):
    results = fields.List(fields.Nested(MutationResultSchema))


class PullQuerySchema(Schema):
    cursor = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500),
                           metadata={"description": "opaque; omit (or 'null') to start from scratch"})
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1),
                           metadata={"description": "page size; capped at SYNC_PAGE_MAX_LIMIT"})


class ChangeSchema(Schema):
    entity = fields.String()
    id = fields.String()
    rev = fields.Integer()
    deleted = fields.Boolean()
    fields_ = fields.Dict(data_key="fields")


class PullPageSchema(Schema):
    changes = fields.List(fields.Nested(ChangeSchema))
    cursor = fields.String()
    has_more = fields.Boolean()


class ConflictQuerySchema(Schema):
    inspection_id = fields.UUID(required=True)


class ConflictSchema(Schema):
    id = fields.UUID()
    rev = fields.Integer()
    entity = fields.String()
    record_id = fields.UUID()
    inspection_id = fields.UUID()
    field = fields.String()
    kept_value = fields.Raw(allow_none=True)
    lost_value = fields.Raw(allow_none=True)
    reason = fields.String(metadata={"description": "both_changed | deleted"})
    mutation_id = fields.UUID(allow_none=True)
    user_id = fields.UUID(allow_none=True)
    at = fields.DateTime()


class SyncProblemSchema(ProblemSchema):
    """A sync error answer: the problem fields plus what the phone needs to act on it."""

    must_resync = fields.Boolean(metadata={"description": "410: push the outbox, then pull from no cursor"})
    reason = fields.String(metadata={"description": "410: scope_changed | cursor_expired | history_diverged"})
    reoffer = fields.Boolean(metadata={"description": "410 history_diverged: offer every record you hold again "
                                                      "(mutations with reoffer: true) before pulling from the start"})
    protocol = fields.Integer(metadata={"description": "409 protocol_outdated: the protocol this server speaks"})
    max_mutations = fields.Integer(metadata={"description": "413: most mutations per push"})
    max_bytes = fields.Integer(metadata={"description": "413: largest push body"})
