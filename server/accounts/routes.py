"""Sign-in, sign-out, the current user, users and organisations."""
from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from ..auth import Action, bearer_token, current_principal, require
from ..errors import NotFound
from ..extensions import db
from ..pagination import paginate_query
from . import service
from .models import Organisation, User
from .schemas import (LoginResultSchema, LoginSchema, OrganisationSchema, PasswordChangeSchema,
                      PasswordResetConfirmSchema, PasswordResetStartedSchema, UserCreateSchema, UserSchema)

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Sign-in, users and organisations")


@blp.route("/auth/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, LoginResultSchema)
    @blp.doc(security=[])
    def post(self, body):
        """Sign in with email and password; answers a bearer token

        Rate-limited per account and per address (429).
        """
        token, user = service.login(body["email"], body["password"], request.remote_addr or "unknown",
                                    current_app.config, label=body.get("device", ""))
        return {"token": token, "user": user, "expires_in_seconds": current_app.config["TOKEN_TTL_SECONDS"]}


@blp.route("/auth/logout")
class Logout(MethodView):
    @blp.response(204)
    def post(self):
        """Sign out: revoke the token this request carries"""
        current_principal()
        service.revoke_token(bearer_token() or "")


@blp.route("/me")
class Me(MethodView):
    @blp.response(200, UserSchema)
    def get(self):
        """The signed-in user with their organisations and roles"""
        return current_principal().user


@blp.route("/users")
class Users(MethodView):
    @blp.response(200, UserSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Users of the organisations you administer"""
        p = require(action=Action.administer)
        q = select(User).order_by(User.email)
        if not p.is_platform_admin:
            from .models import Membership

            org_ids = p.orgs_where(Action.administer)
            q = q.where(User.id.in_(select(Membership.user_id).where(Membership.organisation_id.in_(org_ids))))
        return paginate_query(q, pagination_parameters)

    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    def post(self, body):
        """Create a user with memberships in organisations you administer"""
        p = require(action=Action.administer)
        existing = db.session.scalar(select(User).where(User.email == service.normalise_email(body["email"])))
        if existing is not None and p.is_platform_admin:
            from ..errors import Conflict

            raise Conflict(f"A user with email {existing.email} already exists.")
        # For an organisation admin, an email already in use elsewhere is not revealed (no 409): the
        # person joins the admin's organisations with the roles asked for and keeps their own name and
        # password. The admin sees them from then on, as every member of their organisations.
        user = existing or service.create_user(body["email"], body["password"], body["name"])
        for m in body["memberships"]:
            org = db.session.get(Organisation, m["organisation_id"])
            if org is None or not p.may(Action.administer, org.id):
                db.session.rollback()
                raise NotFound("No such organisation.")
            service.add_membership(user, org, m["role"])
        db.session.commit()
        return user


@blp.route("/organisations")
class Organisations(MethodView):
    @blp.response(200, OrganisationSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Organisations you belong to (all of them for a platform admin)"""
        p = require()
        q = select(Organisation).order_by(Organisation.name)
        if not p.is_platform_admin:
            q = q.where(Organisation.id.in_(p.brand_ids | p.factory_ids))
        return paginate_query(q, pagination_parameters)

    @blp.arguments(OrganisationSchema)
    @blp.response(201, OrganisationSchema)
    def post(self, body):
        """Create an organisation (platform admin)"""
        require(platform_admin=True)
        from ..errors import Conflict

        if db.session.scalar(select(Organisation).where(Organisation.slug == body["slug"])):
            raise Conflict(f"The slug {body['slug']!r} is taken.")
        org = Organisation(**body)
        db.session.add(org)
        db.session.commit()
        return org


# -- passwords and removing people ----------------------------------------------------------------

@blp.route("/me/password")
class MyPassword(MethodView):
    @blp.arguments(PasswordChangeSchema)
    @blp.response(204)
    def post(self, body):
        """Change your own password (the current one is checked); your other sessions are signed out"""
        p = current_principal()
        service.change_password(p.user, body["current_password"], body["new_password"], bearer_token(),
                                request.remote_addr or "unknown", current_app.config)


def _managed_user(p, user_id) -> User:
    """The user if ``p`` administers an organisation they belong to (or is a platform admin); else 404."""
    user = db.session.get(User, user_id)
    if user is None or not (p.is_platform_admin or any(p.may(Action.administer, m.organisation_id)
                                                        for m in user.memberships)):
        raise NotFound("No such user.")
    return user


@blp.route("/users/<uuid:user_id>/password-reset")
class PasswordReset(MethodView):
    @blp.response(202, PasswordResetStartedSchema)
    def post(self, user_id):
        """Send the user a one-time link (valid an hour) to set a new password (their admins)"""
        p = require(action=Action.administer)
        user = _managed_user(p, user_id)
        token = service.start_password_reset(user, p.user)
        db.session.commit()
        emailed = service.send_password_reset_email(current_app.config, user, token)
        return {"emailed": emailed, "expires_in_seconds": service.PASSWORD_RESET_TTL_SECONDS}


@blp.route("/auth/password-reset")
class PasswordResetConfirm(MethodView):
    @blp.arguments(PasswordResetConfirmSchema)
    @blp.response(204)
    @blp.doc(security=[])
    def post(self, body):
        """Set a new password with the one-time link's token (no sign-in; signs out every session)"""
        service.finish_password_reset(body["token"], body["new_password"])


@blp.route("/users/<uuid:user_id>")
class UserItem(MethodView):
    @blp.response(204)
    def delete(self, user_id):
        """Remove a user: a platform admin deactivates the account (signed out everywhere); an
        organisation admin removes them from the organisations they administer"""
        p = require(action=Action.administer)
        user = _managed_user(p, user_id)
        if user.id == p.id:
            from ..errors import Conflict

            raise Conflict("You cannot remove yourself.")
        if p.is_platform_admin:
            user.is_active = False
            db.session.commit()
            service.revoke_user_tokens(user.id)
            return
        for m in list(user.memberships):
            if p.may(Action.administer, m.organisation_id):
                user.memberships.remove(m)
        db.session.commit()


@blp.route("/users/<uuid:user_id>/memberships/<uuid:membership_id>")
class MembershipItem(MethodView):
    @blp.response(204)
    def delete(self, user_id, membership_id):
        """Remove one membership (a role in one organisation) of a user (that organisation's admins)"""
        p = require(action=Action.administer)
        user = _managed_user(p, user_id)
        m = next((m for m in user.memberships if m.id == membership_id), None)
        if m is None or not p.may(Action.administer, m.organisation_id):
            raise NotFound("No such membership.")
        user.memberships.remove(m)
        db.session.commit()
