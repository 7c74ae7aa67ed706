"""``flask privacy``: the retention prune."""
from __future__ import annotations

import click
from flask.cli import AppGroup

privacy_cli = AppGroup("privacy", help="Personal data: the retention prune.")


@privacy_cli.command("prune")
def privacy_prune():
    """Clear the subject and body of settled mails and delete access-log rows, failed sign-ins,
    API idempotency keys and ended sign-ins older than their retention periods (see the README). Safe to run often."""
    from langjourney.privacy.tasks import prune

    for name, count in prune().items():
        click.echo(f"{name.replace('_', ' ')}: {count}")
