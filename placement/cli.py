"""Command line: ``python -m placement {simulate,calibrate,exposure} ...``."""

import argparse
import csv
import json
import sys

from .bank import load_bank
from .simulation import simulate, summarize

OUT_COLUMNS = ("id", "theta_true", "theta_hat", "sem", "items_used", "level")


class Progress:
    """A plain text progress bar on stderr, redrawn at most every 1 %."""

    def __init__(self, total, label):
        """Prepare a bar for ``total`` steps."""
        self.total, self.label, self.shown = max(total, 1), label, -1

    def __call__(self, done):
        """Show that ``done`` steps are complete."""
        percent = 100 * done // self.total
        if percent != self.shown:
            self.shown = percent
            bar = "#" * (percent // 4) + "." * (25 - percent // 4)
            print(f"\r{self.label} [{bar}] {done}/{self.total}", end="", file=sys.stderr, flush=True)
            if done >= self.total:
                print(file=sys.stderr)


def _read_examinees(path, bank):
    ids, thetas, priors = [], [], []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"id", "theta"} <= set(reader.fieldnames):
            raise SystemExit(f"{path}: the header must have columns id,theta[,prior_level]")
        for line, row in enumerate(reader, start=2):
            try:
                thetas.append(float(row["theta"]))
            except ValueError:
                raise SystemExit(f"{path}:{line}: theta {row['theta']!r} is not a number") from None
            prior = (row.get("prior_level") or "").strip() or None
            if prior is not None and prior not in bank.levels:
                raise SystemExit(f"{path}:{line}: prior_level {prior!r} is not one of {bank.levels}")
            ids.append(row["id"])
            priors.append(prior)
    return ids, thetas, priors


def _simulate(args):
    bank = load_bank(args.bank)
    ids, thetas, priors = _read_examinees(args.examinees, bank)
    rows = simulate(bank, thetas, priors, seed=args.seed, progress=Progress(len(ids), "simulating"))
    with open(args.out, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUT_COLUMNS)
        for learner_id, row in zip(ids, rows, strict=True):
            writer.writerow(
                [
                    learner_id,
                    f"{row['theta_true']:.4f}",
                    f"{row['theta_hat']:.4f}",
                    f"{row['sem']:.4f}",
                    row["items_used"],
                    row["level"],
                ]
            )
    stats = summarize(bank, rows)
    print(
        f"learners {stats['learners']}  RMSE {stats['rmse']:.3f}  bias {stats['bias']:+.3f}  "
        f"mean items {stats['mean_items']:.1f}  exact level {stats['exact']:.3f}  "
        f"within one level {stats['within_one']:.3f}  max exposure {stats['max_exposure']:.3f}"
    )


def _calibrate(args):
    from .calibrate import calibrate_files

    report = calibrate_files(
        args.responses, args.bank, args.out, min_responses=args.min_responses, misfit=args.misfit
    )
    print(report.text())


def _exposure(args):
    from .exposure import fit_eligibility

    with open(args.bank, encoding="utf-8") as fh:
        data = json.load(fh)
    load_bank(data)  # validate before the long run
    new, history = fit_eligibility(
        data,
        cap=args.cap,
        learners=args.learners,
        iterations=args.iterations,
        seed=args.seed,
        population=args.population,
        progress=Progress(args.iterations, "fitting"),
    )
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(new, fh, indent=1, ensure_ascii=False)
    print("simulated max exposure per iteration: " + ", ".join(f"{h:.3f}" for h in history))


def build_parser():
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(
        prog="python -m placement", description="LangJourney adaptive placement test tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser(
        "simulate",
        help="run simulated learners through the adaptive test",
        description=(
            "Run one simulated test per examinee with the same engine and defaults as the web "
            "test; answers are drawn from the 3PL model. Writes OUT.csv with columns "
            + ",".join(OUT_COLUMNS)
            + " and prints RMSE, bias, mean items, exact and within-one level agreement. "
            "A progress bar goes to stderr."
        ),
    )
    sim.add_argument("--bank", required=True, help="item bank JSON (see placement/README.md)")
    sim.add_argument(
        "--examinees",
        required=True,
        help="CSV with columns id,theta[,prior_level]; prior_level is a level name of the bank or empty",
    )
    sim.add_argument("--out", required=True, help="output CSV: " + ",".join(OUT_COLUMNS))
    sim.add_argument("--seed", type=int, default=0, help="random seed for answers and item choice (default 0)")
    sim.set_defaults(func=_simulate)

    cal = sub.add_parser(
        "calibrate",
        help="re-estimate item parameters from collected responses",
        description=(
            "Re-estimate a and b of every item by marginal maximum likelihood (EM over a quadrature "
            "grid; c stays at its bank value), then link the new scale to the current bank "
            "(mean/sigma over well-used items) so cut scores keep their meaning. Items with too "
            "few responses keep their old parameters. Prints misfitting and under-used items."
        ),
    )
    cal.add_argument(
        "--responses",
        required=True,
        help="CSV with header learner_id,item_id,correct (correct is 0 or 1), one row per response",
    )
    cal.add_argument("--bank", required=True, help="current item bank JSON")
    cal.add_argument("--out", required=True, help="where to write the re-calibrated bank JSON")
    cal.add_argument(
        "--min-responses",
        type=int,
        default=100,
        help="items with fewer responses keep their parameters and are reported as under-used (default 100)",
    )
    cal.add_argument(
        "--misfit",
        type=float,
        default=0.1,
        help="flag items whose RMSD between observed and model curve exceeds this (default 0.1)",
    )
    cal.set_defaults(func=_calibrate)

    exp = sub.add_parser(
        "exposure",
        help="fit per-item eligibility so no item is used in more than a share of tests",
        description=(
            "Simulate learners (evenly over the level bands, or N(0,1) with --population normal; "
            "self-assessed level right half the time, one level off otherwise) "
            "through the engine with default settings and fit Sympson-Hetter eligibility "
            "probabilities so the simulated exposure of every item stays below 0.85 x CAP. "
            "Writes the bank with an 'eligibility' field on every item."
        ),
    )
    exp.add_argument("--bank", required=True, help="item bank JSON")
    exp.add_argument("--out", required=True, help="where to write the bank with eligibility fields")
    exp.add_argument("--cap", type=float, default=0.25, help="maximum share of tests using one item (default 0.25)")
    exp.add_argument("--learners", type=int, default=2000, help="simulated learners per iteration (default 2000)")
    exp.add_argument("--iterations", type=int, default=6, help="fitting iterations (default 6)")
    exp.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    exp.add_argument(
        "--population",
        choices=["uniform", "normal"],
        default="uniform",
        help="simulated abilities: evenly over the level bands (default) or N(0,1); fit on the population you expect",
    )
    exp.set_defaults(func=_exposure)
    return parser


def main(argv=None):
    """Entry point of ``python -m placement``."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ValueError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    return 0

