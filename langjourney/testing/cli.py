"""``flask placement ...``: export responses and recalibrate the live bank."""
from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import click
from flask.cli import AppGroup

from langjourney.extensions import db
from langjourney.testing import services
from langjourney.testing.bank import engine_bank, live_bank_version, publish_bank

placement_cli = AppGroup("placement", help="The placement test's responses and item bank.")


@placement_cli.command("export-responses")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="CSV file to write: learner_id,item_id,correct (the format `placement calibrate` reads).")
def export_responses_command(out):
    """Write every stored placement response for calibration."""
    click.echo(f"Wrote {services.export_responses(out)} responses to {out}.")


@placement_cli.command("calibrate")
@click.option("--min-responses", default=100, show_default=True,
              help="Items with fewer answers keep their current parameters.")
@click.option("--misfit", default=0.1, show_default=True, help="Report items whose fit RMSD exceeds this.")
def calibrate_command(min_responses, misfit):
    """Re-estimate the live bank from all stored responses and make the result the live bank.

    The previous version is kept; every attempt records the version that placed it.
    """
    from placement.calibrate import Report, estimate, read_responses

    live = live_bank_version()
    bank = engine_bank(live)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "responses.csv"
        if services.export_responses(str(path)) == 0:
            raise click.ClickException("There are no responses to calibrate from.")
        responses = read_responses(str(path), bank)
    fit = estimate(bank, responses, min_responses=min_responses)
    report = Report(bank, responses, fit, misfit)
    new = copy.deepcopy(live.bank)
    for item, a, b in zip(new["items"], fit["a"], fit["b"], strict=True):
        item["a"], item["b"] = round(float(a), 4), round(float(b), 4)
    version = publish_bank(new, "calibration", report.text())
    db.session.commit()
    click.echo(report.text())
    click.echo(f"Live bank is now version {version.id} ({version.version[:12]}); "
               f"the previous one ({live.id}) is kept.")
