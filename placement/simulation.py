"""Simulated learners: run the real engine on synthetic response patterns.

:func:`simulate` drives the same step API as the web (``start`` /
``next_item`` / ``record`` / ``result``) with the same defaults; only the
answers come from the 3PL model instead of a person.
"""

import numpy as np

from . import engine, model
from .bank import Bank

DEFAULT_SKILLS = ("vocabulary", "grammar", "reading", "listening")
DEFAULT_CUTS = {"A2": -1.75, "B1": -0.75, "B2": 0.25, "C1": 1.25}


def synthetic_bank_dict(n_items=600, seed=0, cut_scores=None, guess_share=0.6, enemy_pairs=20, a_log_sd=0.3):
    """A synthetic 3PL bank as a JSON-able dict (for tests and the benchmark).

    ``b`` is spread evenly over the level bands (end bands one unit wide),
    ``a`` is log-normal around 1.2 (``log a ~ N(log 1.2, a_log_sd)``), a ``guess_share`` of the items has
    ``c = 0.2`` and the rest ``c = 0``; skills cycle through
    :data:`DEFAULT_SKILLS`; ``enemy_pairs`` random pairs are made enemies.
    """
    rng = np.random.default_rng(seed)
    cuts = dict(DEFAULT_CUTS if cut_scores is None else cut_scores)
    bounds = np.array([min(cuts.values()) - 1.0, *cuts.values(), max(cuts.values()) + 1.0])
    levels = ["A1", *cuts]
    band = rng.integers(0, len(levels), n_items)
    b = rng.uniform(bounds[band], bounds[band + 1])
    a = np.exp(rng.normal(np.log(1.2), a_log_sd, n_items))
    c = np.where(rng.random(n_items) < guess_share, 0.2, 0.0)
    items = [
        {
            "id": f"i{j:04d}",
            "a": round(float(a[j]), 4),
            "b": round(float(b[j]), 4),
            "c": float(c[j]),
            "skill": DEFAULT_SKILLS[j % len(DEFAULT_SKILLS)],
            "level": levels[band[j]],
        }
        for j in range(n_items)
    ]
    pairs = rng.choice(n_items, size=(enemy_pairs, 2), replace=False) if enemy_pairs else []
    for first, second in pairs:
        items[first]["enemies"] = [items[second]["id"]]
    return {"items": items, "cut_scores": cuts, "base_level": "A1"}


def synthetic_learners(bank: Bank, n, seed=0, prior_accuracy=0.5, population="uniform"):
    """True abilities and self-assessed levels.

    ``population`` is ``"normal"`` (N(0, 1)) or ``"uniform"`` (evenly over the
    level bands, the open end bands taken one mean band width wide).

    The self-assessment is the true level with probability ``prior_accuracy``
    and otherwise one level off (up or down at random, inward at the ends).
    Returns ``(thetas, prior_levels)``.
    """
    rng = np.random.default_rng(seed)
    if population == "uniform":
        width = float(np.diff(bank.cuts).mean()) if bank.cuts.size > 1 else 1.0
        thetas = rng.uniform(bank.cuts[0] - width, bank.cuts[-1] + width, n)
    elif population == "normal":
        thetas = np.clip(rng.normal(0.0, 1.0, n), model.GRID[0] + 1, model.GRID[-1] - 1)
    else:
        raise ValueError(f"unknown population {population!r}")
    true = np.searchsorted(bank.cuts, thetas, side="right")
    top = len(bank.levels) - 1
    step = np.where(rng.random(n) < 0.5, -1, 1)
    step = np.where(true == 0, 1, np.where(true == top, -1, step))
    claimed = np.where(rng.random(n) < prior_accuracy, true, true + step)
    return thetas, [bank.levels[k] for k in claimed]


def simulate(bank: Bank, thetas, prior_levels=None, seed=0, progress=None, **settings):
    """Run one simulated test per ability in ``thetas``.

    Answers are drawn from the 3PL model with a generator seeded by ``seed``;
    each test gets its own engine seed drawn from it.  ``progress`` is called
    with the number of tests done.  Returns one dict per learner with
    ``theta_true``, ``theta_hat``, ``sem``, ``items_used``, ``level``,
    ``p_level`` and ``items`` (the administered ids).
    """
    rng = np.random.default_rng(seed)
    if prior_levels is None:
        prior_levels = [None] * len(thetas)
    rows = []
    for done, (theta, prior) in enumerate(zip(thetas, prior_levels, strict=True), start=1):
        state = engine.start(bank, prior_level=prior, seed=int(rng.integers(2**63)), **settings)
        while (item_id := engine.next_item(state, bank)) is not None:
            i = bank.index[item_id]
            correct = rng.random() < model.prob(theta, bank.a[i], bank.b[i], bank.c[i])
            engine.record(state, item_id, correct, bank)
        outcome = engine.result(state, bank)
        rows.append(
            {
                "theta_true": float(theta),
                "theta_hat": outcome["theta"],
                "sem": outcome["sem"],
                "items_used": outcome["items_used"],
                "level": outcome["level"],
                "p_level": outcome["p_level"],
                "items": state["items"],
            }
        )
        if progress is not None:
            progress(done)
    return rows


def summarize(bank: Bank, rows):
    """Accuracy and efficiency figures for :func:`simulate` output.

    Returns ``rmse``, ``bias``, ``mean_items``, ``exact`` and ``within_one``
    (level agreement with the true level) and ``max_exposure`` (largest share
    of tests that used any one item).
    """
    true = np.array([r["theta_true"] for r in rows])
    hat = np.array([r["theta_hat"] for r in rows])
    true_level = np.searchsorted(bank.cuts, true, side="right")
    got_level = np.array([bank.levels.index(r["level"]) for r in rows])
    counts = np.zeros(len(bank))
    for r in rows:
        counts[[bank.index[i] for i in r["items"]]] += 1
    return {
        "learners": len(rows),
        "rmse": float(np.sqrt(np.mean((hat - true) ** 2))),
        "bias": float(np.mean(hat - true)),
        "mean_items": float(np.mean([r["items_used"] for r in rows])),
        "exact": float(np.mean(got_level == true_level)),
        "within_one": float(np.mean(np.abs(got_level - true_level) <= 1)),
        "max_exposure": float(counts.max() / len(rows)),
    }
