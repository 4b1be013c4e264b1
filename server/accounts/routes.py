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
from .schemas import LoginResultSchema, LoginSchema, OrganisationSchema, UserCreateSchema, UserSchema

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
