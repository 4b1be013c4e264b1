"""Shapes of the accounts API. Permission and uniqueness checks live in the service."""
from marshmallow import Schema, fields, validate

from .models import OrgKind, Role


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=3, max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))
    device = fields.String(load_default="", validate=validate.Length(max=200))


class OrganisationSchema(Schema):
    id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.Enum(OrgKind, by_value=True, required=True)
    slug = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,79}$"))
    country = fields.String(allow_none=True, validate=validate.Length(equal=2))


class MembershipSchema(Schema):
    id = fields.UUID(dump_only=True)
    organisation_id = fields.UUID(required=True)
    organisation_name = fields.String(dump_only=True, attribute="organisation.name")
    organisation_kind = fields.String(dump_only=True, attribute="organisation.kind.value")
    role = fields.Enum(Role, by_value=True, required=True)


class UserSchema(Schema):
    id = fields.UUID(dump_only=True)
    email = fields.Email(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    is_active = fields.Boolean(dump_only=True)
    is_platform_admin = fields.Boolean(dump_only=True)
    locale = fields.String(dump_only=True)
    memberships = fields.List(fields.Nested(MembershipSchema), dump_only=True)


class UserCreateSchema(Schema):
    email = fields.Email(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=1024))
    memberships = fields.List(fields.Nested(MembershipSchema), load_default=list)


class LoginResultSchema(Schema):
    token = fields.String(required=True)
    expires_in_seconds = fields.Integer()
    user = fields.Nested(UserSchema)


class UserQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    page_size = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class PasswordChangeSchema(Schema):
    current_password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=1024))


class PasswordResetConfirmSchema(Schema):
    token = fields.String(required=True, load_only=True, validate=validate.Length(min=10, max=200))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(min=8, max=1024))


class PasswordResetStartedSchema(Schema):
    emailed = fields.Boolean(metadata={"description": "false when no SMTP server is configured"})
    expires_in_seconds = fields.Integer()
