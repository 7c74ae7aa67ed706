"""``flask allocation ...``: audit the allocation log, replay scenarios, run the sweep by hand."""
from __future__ import annotations

import click
from flask.cli import AppGroup

allocation_cli = AppGroup("allocation", help="Waitlists and the allocation of freed seats.")


@allocation_cli.command("audit")
def audit_command():
    """Replay the allocation log against the policy versions; exit non-zero listing each violation
    (a seat offered while an eligible learner with a better claim waited without an offer, capacity
    exceeded, two live offers for one learner)."""
    from langjourney.waitlist.audit import audit

    problems = audit()
    for problem in problems:
        click.echo(problem)
    if problems:
        raise click.exceptions.Exit(1)
    click.echo("allocation log OK")


@allocation_cli.command("replay")
@click.argument("scenario", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="JSON lines to write: at, event (offer, expire, accept, decline, cancel, confirm), learner, course.")
def replay_command(scenario, out):
    """Run SCENARIO (JSON) through the real allocation service and jobs on a fresh temporary
    database. Actions the state does not allow are skipped with a note on stderr; a malformed
    scenario is refused before anything runs."""
    from langjourney.waitlist.replay import ScenarioError, replay_file

    try:
        count = replay_file(scenario, out)
    except ScenarioError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Wrote {count} events to {out}.", err=True)


@allocation_cli.command("reconcile")
def reconcile_command():
    """Expire overdue offers and offer every free seat to waiting learners, now."""
    from langjourney.waitlist.tasks import reconcile

    click.echo(f"Made {reconcile()} offers.")
