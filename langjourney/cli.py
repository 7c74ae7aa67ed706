"""``flask`` commands: users, translations, the worker, the outbox and demo data."""
from __future__ import annotations

import subprocess
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from langjourney.auth.models import Role
from langjourney.config import PROJECT_ROOT
from langjourney.errors import DomainError
from langjourney.extensions import db

users_cli = AppGroup("users", help="Manage accounts.")
translate_cli = AppGroup("translate", help="Extract, update and compile the message catalogs.")
outbox_cli = AppGroup("outbox", help="The e-mail outbox.")
demo_cli = AppGroup("demo", help="Demonstration data.")
courses_cli = AppGroup("courses", help="Courses: CSV import and export, overdue confirmation reminders.")
counselling_cli = AppGroup("counselling", help="Counselling appointments: reminder mails.")


@users_cli.command("create")
@click.option("--email", required=True, help="The account's e-mail address (its login).")
@click.option("--name", "full_name", required=True, help="Full name.")
@click.option("--role", type=click.Choice([r.value for r in Role if r is not Role.LEARNER]), required=True,
              help="counsellor, provider (staff of a provider) or admin.")
@click.option("--provider", default=None, help="Provider organisation's name (required for --role provider; "
              "created if it does not exist).")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The password (asked for when not given).")
@click.option("--locale", type=click.Choice(["et", "en", "ru", "uk"]), default="et", show_default=True,
              help="Language of the account.")
@click.option("--provider-admin", is_flag=True, help="Provider staff who also manage the provider's API tokens.")
def create_user_command(email, full_name, role, provider, password, locale, provider_admin):
    """Create a staff account (counsellor, provider staff or admin)."""
    from langjourney.auth import services

    role = Role(role)
    try:
        org = services.get_or_create_provider(provider) if role is Role.PROVIDER and provider else None
        user = services.create_user(email, password, full_name, role, org, locale)
        if provider_admin:
            if role is not Role.PROVIDER:
                raise DomainError("--provider-admin is only for provider staff")
            user.is_provider_admin = True
    except DomainError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc.message)) from None
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email} (id {user.id}).")


def _pybabel(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "babel.messages.frontend", *args], cwd=PROJECT_ROOT)
    if result.returncode:
        raise click.ClickException(f"pybabel {args[0]} failed")


@translate_cli.command("update")
def translate_update():
    """Extract messages into messages.pot and merge them into every catalog."""
    _pybabel("extract", "-F", "babel.cfg", "-k", "_l", "--sort-by-file", "--no-wrap",
             "--project=LangJourney", "--copyright-holder=LangJourney contributors", "-o", "translations/messages.pot", "langjourney")
    for language in current_app.config["LANGUAGES"]:
        if (PROJECT_ROOT / "translations" / language / "LC_MESSAGES" / "messages.po").exists():
            _pybabel("update", "-i", "translations/messages.pot", "-d", "translations", "-l", language,
                     "--no-wrap", "--ignore-obsolete")
        else:
            _pybabel("init", "-i", "translations/messages.pot", "-d", "translations", "-l", language,
                     "--no-wrap")


@translate_cli.command("compile")
def translate_compile():
    """Compile the catalogs (.po) into the binary form (.mo) the app reads."""
    _pybabel("compile", "-d", "translations", "--statistics")


@translate_cli.command("init")
@click.argument("language")
def translate_init(language):
    """Start a catalog for a new LANGUAGE."""
    _pybabel("init", "-i", "translations/messages.pot", "-d", "translations", "-l", language)


@outbox_cli.command("resend")
@click.option("--minutes", default=5, show_default=True, help="Resend mails pending longer than this.")
def outbox_resend(minutes):
    """Send mails left pending by a lost job (a flushed Redis, a dead worker)."""
    from langjourney.mail.tasks import resend_stale

    click.echo(f"Tried {resend_stale(minutes)} pending mails.")


@demo_cli.command("load")
def demo_load():
    """Load demonstration data (idempotent): staff, providers, courses and 200 learners."""
    from langjourney.demo.data import load_demo

    counts = load_demo()
    db.session.commit()
    click.echo(", ".join(f"{name}: {n}" for name, n in counts.items()))


def _provider_by_name(name: str):
    from sqlalchemy import select

    from langjourney.auth.models import Provider

    provider = db.session.scalar(select(Provider).where(Provider.name == name))
    if provider is None:
        raise click.ClickException(f"No provider named {name!r}.")
    return provider


@courses_cli.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--provider", "provider_name", required=True, help="The provider organisation's name.")
def courses_import(file, provider_name):
    """Import a provider's courses from a CSV FILE: all rows or none.

    Rows without an id create courses (waiting for approval); rows with the id of one of the
    provider's courses update it. Every problem is reported with its line and column.
    """
    from langjourney.courses.csvio import CsvImportFailed, import_courses

    provider = _provider_by_name(provider_name)
    try:
        courses = import_courses(file.read(), provider, None)
    except CsvImportFailed as exc:
        db.session.rollback()
        for error in exc.errors:
            click.echo(f"{file.name}:{error.line}: {error.column}: {error.message}", err=True)
        raise click.ClickException(f"{len(exc.errors)} problems; nothing was imported.") from None
    db.session.commit()
    click.echo(f"Imported {len(courses)} courses for {provider.name}.")


@courses_cli.command("export")
@click.option("--provider", "provider_name", required=True, help="The provider organisation's name.")
@click.option("--output", "-o", type=click.File("w", encoding="utf-8"), default="-", show_default=True,
              help="Where to write the CSV.")
def courses_export(provider_name, output):
    """Export a provider's courses as CSV, in the import format."""
    from langjourney.courses.csvio import export_courses

    output.write(export_courses(_provider_by_name(provider_name)))


@courses_cli.command("remind-overdue")
@click.option("--today", default=None, help="Pretend today is this date (YYYY-MM-DD).")
def courses_remind_overdue(today):
    """Mail providers about enrolments not confirmed by the deadline (5 working days after acceptance).

    Idempotent: an enrolment is reminded about at most once a day, so cron may run it hourly.
    """
    from langjourney.courses.tasks import remind_overdue_confirmations

    click.echo(f"Queued {remind_overdue_confirmations(today)} reminder mails.")


@counselling_cli.command("remind")
def counselling_remind():
    """Mail learners a reminder of their counselling appointments in the next 24 hours.

    Each booking is reminded once (not if it was booked less than 24 hours ahead), so cron may run
    this every few minutes.
    """
    from langjourney.counselling.tasks import remind_appointments

    click.echo(f"Queued {remind_appointments()} reminder mails.")


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Quit when the queue is empty (for tests and cron).")
def worker_command(burst):
    """Run an RQ worker (with its scheduler) for LangJourney's jobs, which also runs the periodic
    tasks (the waitlist sweep, the outbox sweep, reminders) when they are due. Needs REDIS_URL."""
    from langjourney.jobs import run_worker
    from langjourney.ops import periodic
    from langjourney.waitlist import services as waitlist

    app = current_app._get_current_object()
    if not app.config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL is not set: jobs run inline and no worker is needed.")
    run_worker(app, burst=burst, warm_ups=(waitlist.warm_up,),
               periodic=periodic.Runner(app) if periodic.is_enabled(app) else None, every=periodic.tick(app))


def init_cli(app: Flask) -> None:
    from langjourney.privacy.cli import privacy_cli
    from langjourney.testing.cli import placement_cli
    from langjourney.waitlist.cli import allocation_cli

    for command in (users_cli, translate_cli, outbox_cli, demo_cli, courses_cli, counselling_cli,
                    worker_command, placement_cli, allocation_cli, privacy_cli):
        app.cli.add_command(command)
