"""Extensions, created unbound and bound to the app in ``create_app``."""
from flask_migrate import Migrate
from flask_smorest import Api as _Api
from marshmallow import Schema, fields
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so that Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ProblemSchema(Schema):
    """An error answer (RFC 9457 problem details) with Lineside's stable ``code``."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "stable error code; see the README"})
    errors = fields.Raw(metadata={"description": "per field, or per mutation, what was wrong"})
    request_id = fields.String(metadata={"description": "the request's id, as in the X-Request-Id header and the "
                                                        "server's log lines"})
    retry_after_seconds = fields.Integer(metadata={"description": "429 and 503: wait this long (also the "
                                                                  "Retry-After header)"})
    incomplete = fields.Boolean(metadata={"description": "422 from a photo's complete: the bytes (or parts) must be "
                                                         "sent again; errors.upload says the same"})
    missing_parts = fields.List(fields.Integer(), metadata={"description": "422 from complete: multipart parts "
                                                                           "still to send"})


class Api(_Api):
    """flask-smorest's Api, documenting every error as ``application/problem+json``."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self):
        default = self.DEFAULT_RESPONSE_CONTENT_TYPE
        self.DEFAULT_RESPONSE_CONTENT_TYPE = "application/problem+json"
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = default

    def _register_pagination_header(self):
        # The header carries JSON text; OpenAPI describes that with ``content``, not ``schema``.
        from flask_smorest.pagination import PaginationMetadataSchema

        self.spec.components.header("PAGINATION", {
            "description": "Pagination metadata as JSON: total, total_pages, page, first_page, last_page, "
                           "previous_page, next_page",
            "content": {"application/json": {"schema": PaginationMetadataSchema}},
        }, lazy=True)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
