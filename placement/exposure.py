"""Fit Sympson-Hetter eligibility probabilities so no item exceeds an exposure cap.

Exposure (the share of tests that use an item) depends on the population,
so it is fitted by simulation: learners are drawn as in
:func:`placement.simulation.synthetic_learners` (N(0, 1) on the bank scale,
self-assessment right half the time), the real engine runs, and each item's
eligibility ``k`` is updated by the conditional rule
``k <- min(1, target / P(used | eligible))`` (an offline version of the
Sympson-Hetter / van der Linden eligibility method), where the conditional
use rate is the larger of this and the previous iteration's estimate, so the
fit approaches the cap from below despite sampling noise.  ``target`` is
``margin * cap`` to leave room for sampling noise in live use.
"""

import copy

import numpy as np

from .bank import Bank
from .simulation import simulate, summarize, synthetic_learners


def fit_eligibility(
    bank_data, cap=0.25, learners=2000, iterations=6, seed=0, margin=0.85, progress=None, population="uniform",
    **settings,
):
    """Return ``(new_bank_data, history)`` with an ``eligibility`` field on every item.

    ``bank_data`` is a bank dict (it is not modified); ``history`` lists the
    simulated maximum exposure after each iteration.  ``settings`` are test
    settings passed to the engine (use the ones the live test uses).
    """
    data = copy.deepcopy(bank_data)
    target = margin * cap
    history, previous = [], None
    for iteration in range(iterations):
        bank = Bank(data)
        thetas, priors = synthetic_learners(bank, learners, seed=seed + iteration, population=population)
        rows = simulate(bank, thetas, priors, seed=seed + 1000 + iteration, **settings)
        counts = np.zeros(len(bank))
        for row in rows:
            counts[[bank.index[i] for i in row["items"]]] += 1
        exposure = counts / learners
        history.append(summarize(bank, rows)["max_exposure"])
        # P(used | eligible), the larger of this and the last estimate (conservative).
        conditional = exposure / bank.eligibility
        if previous is not None:
            conditional = np.maximum(conditional, previous)
        previous = conditional
        k = np.minimum(1.0, target / np.maximum(conditional, 1e-12))
        for item, value in zip(data["items"], k, strict=True):
            item["eligibility"] = round(float(max(value, 0.01)), 4)
        if progress is not None:
            progress(iteration + 1)
    return data, history
