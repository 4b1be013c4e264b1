"""Operator commands: ``flask --app server <command>``."""
from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import select

from .extensions import db


def register_cli(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
    @click.option("--org", "org_slug", help="organisation slug for the membership")
    @click.option("--role", type=click.Choice(["admin", "brand_reviewer", "inspector", "factory_manager"]))
    @click.option("--platform-admin", is_flag=True, help="may set up organisations and see every tenant")
    def create_user_cmd(email, name, password, org_slug, role, platform_admin):
        """Create a user, optionally with a role in an organisation."""
        from .accounts.models import Organisation, Role
        from .accounts.service import add_membership, create_user
        from .errors import LinesideError

        try:
            user = create_user(email, password, name, is_platform_admin=platform_admin)
            if org_slug:
                org = db.session.scalar(select(Organisation).where(Organisation.slug == org_slug))
                if org is None:
                    raise click.ClickException(f"no organisation with slug {org_slug!r}")
                if not role:
                    raise click.ClickException("--role is required with --org")
                add_membership(user, org, Role(role))
            db.session.commit()
        except LinesideError as exc:
            db.session.rollback()
            raise click.ClickException(f"{exc.detail} {exc.errors or ''}".strip()) from None
        click.echo(f"created {user.email}")

    @app.cli.command("create-org")
    @click.option("--name", required=True)
    @click.option("--slug", required=True)
    @click.option("--kind", type=click.Choice(["brand", "factory"]), required=True)
    def create_org_cmd(name, slug, kind):
        """Create an organisation (a brand or a factory)."""
        from .accounts.models import OrgKind, Organisation

        if db.session.scalar(select(Organisation).where(Organisation.slug == slug)):
            raise click.ClickException(f"slug {slug!r} is taken")
        db.session.add(Organisation(name=name, slug=slug, kind=OrgKind(kind)))
        db.session.commit()
        click.echo(f"created {kind} {slug}")

    @app.cli.command("revoke-tokens")
    @click.argument("email")
    def revoke_tokens_cmd(email):
        """Sign a user out everywhere: revoke all their tokens."""
        from .accounts.service import revoke_user_tokens

        user = _user_by_email(email)
        click.echo(f"revoked {revoke_user_tokens(user.id)} token(s) of {user.email}")

    @app.cli.command("deactivate-user")
    @click.argument("email")
    def deactivate_user_cmd(email):
        """Deactivate a user and revoke their tokens."""
        from .accounts.service import revoke_user_tokens

        user = _user_by_email(email)
        user.is_active = False
        db.session.commit()
        revoke_user_tokens(user.id)
        click.echo(f"deactivated {user.email}")

    @app.cli.command("seed-demo")
    def seed_demo_cmd():
        """Create the demo tenants, data and logins (idempotent)."""
        from .demo import DEMO_LOGINS, seed_demo

        created = seed_demo()
        click.echo("demo data " + ("created" if created else "already present"))
        for email, password, what in DEMO_LOGINS:
            click.echo(f"  {what:<22} {email} / {password}")

    for extra in _extra_commands():
        app.cli.add_command(extra)
    from .sync.rulebook import register_cli as register_rules_doc

    register_rules_doc(app)


def _user_by_email(email: str):
    """The user with this email. Raises ``click.ClickException`` when there is none."""
    from .accounts.models import User
    from .accounts.service import normalise_email

    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise click.ClickException(f"no user {email}")
    return user


def _extra_commands():
    """Commands that domain packages contribute (``COMMANDS`` in their ``cli`` module)."""
    from .inspect import cli as inspect_cli
    from .review import cli as review_cli
    from .storage import cli as storage_cli
    from .sync import cli as sync_cli
    from .timeline import cli as timeline_cli

    for mod in (inspect_cli, sync_cli, storage_cli, review_cli, timeline_cli):
        yield from mod.COMMANDS
