"""Adaptive placement test: the step API used by the web and by simulations.

A test is a plain JSON-able dict (the *state*).  The web keeps it in the
database between requests::

    state = start(bank, prior_level="B1.1", seen=previous_item_ids, seed=42)
    while (item_id := next_item(state)) is not None:
        record(state, item_id, learner_answered_correctly)
    outcome = result(state)

``next_item`` and ``record`` update the state in place (and return it or
the item id).  The state names its bank by fingerprint; any bank loaded with
:func:`placement.bank.load_bank` in the process is found automatically, or
pass ``bank=`` explicitly.

Estimation is EAP on :data:`placement.model.GRID` with a normal prior centred
on the self-assessed level; the log-posterior lives in the state so a step
costs one vector addition.  Selection maximises posterior-weighted Fisher
information within the skill furthest behind its target share, picks at
random among the best ``randomesque`` items, and never offers an enemy of an
administered item or an item from ``seen``.  Exposure is capped
Sympson-Hetter style: each item takes part in a test with the probability
given by its ``eligibility`` field, which :mod:`placement.exposure` fits by
simulation for a chosen cap.
"""

import secrets

import numpy as np
from scipy.special import ndtr

from . import model
from .bank import Bank, registered_bank

STATE_VERSION = 1

#: Default test settings; any of them can be overridden in :func:`start`.
DEFAULTS = {
    "min_items": 8,  # never stop before this many items
    "max_items": 30,  # always stop after this many items
    "confidence": 0.9,  # stop when the posterior probability of one level reaches this
    "sem_stop": 0.30,  # ... or when the posterior SD falls to this, away from a cut
    "randomesque": 5,  # choose at random among this many best items
    "skill_shares": None,  # {skill: weight}; None = equal over the bank's skills
    "prior_right": 0.5,  # P(self-assessed level is right); the rest goes to the adjacent levels (None: normal prior)
    "prior_edge_sd": 0.25,  # the level-band prior's edges are smoothed with a normal of this SD
    "prior_floor": 0.05,  # share of the level-band prior spread evenly over all levels
    "prior_sd": 1.0,  # SD of the normal prior (prior_right=None) when the learner gave a level
    "unknown_prior_sd": 1.5,  # SD of the normal prior (prior_right=None) when they did not
    "selection": "mi",  # "mi": mutual information with the level (+ theta_weight x with theta); "fisher"
    "theta_weight": 1.0,  # weight of the information about theta in the "mi" selection
    "randomesque_items": None,  # use randomesque only for this many first items (None: always)
    "item_cost": None,  # stop when no look-ahead of m more items gains this much P(right level) per item
    "future_item_info": 0.5,  # information per future item assumed by the look-ahead
    "max_stop_sem": 0.4,  # "level_decided" needs the posterior SD at most this (None: no condition)
    "min_skill_items": 4,  # per-skill estimates from fewer items are flagged
    "borderline": 0.2,  # report a neighbouring level whose probability reaches this
}

_MASK64 = (1 << 64) - 1
# Counter offset separating the per-item eligibility draws from the per-step draws.
_ELIGIBILITY_STREAM = 1 << 32


def _uniforms(seed, counters):
    """Counter-based uniforms in [0, 1) (SplitMix64), so a state needs no RNG object."""
    z = np.uint64((seed * 0x9E3779B97F4A7C15) & _MASK64) + (
        np.asarray(counters, dtype=np.uint64) + np.uint64(1)
    ) * np.uint64(0xD1B54A32D192ED03)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return ((z ^ (z >> np.uint64(31))) >> np.uint64(11)) / float(1 << 53)


def _check_settings(bank, overrides):
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown test settings: {sorted(unknown)}")
    settings = {**DEFAULTS, **overrides}
    if not 1 <= settings["min_items"] <= settings["max_items"]:
        raise ValueError("need 1 <= min_items <= max_items")
    if settings["randomesque"] < 1:
        raise ValueError("randomesque must be >= 1")
    if settings["skill_shares"] is not None:
        shares = {k: float(v) for k, v in settings["skill_shares"].items() if k in bank.skill_names}
        if any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
            raise ValueError("skill_shares needs a positive weight for at least one skill in the bank")
        settings["skill_shares"] = shares
    return settings


def _shares(bank, settings):
    given = settings["skill_shares"]
    if given is None:
        return np.full(len(bank.skill_names), 1.0 / len(bank.skill_names))
    shares = np.array([given.get(s, 0.0) for s in bank.skill_names])
    return shares / shares.sum()


def _bank(state, bank):
    if bank is None:
        return registered_bank(state["bank"])
    if bank.fingerprint != state["bank"]:
        raise ValueError("this state belongs to a different item bank (fingerprint mismatch)")
    return bank


def _setting(state, name):
    return state["settings"].get(name, DEFAULTS[name])


def _log_prior(bank, prior_level, settings):
    """Log prior on the grid and its (mean, SD)."""
    if settings["prior_right"] is None:
        if prior_level is None:
            mean, sd = float((bank.cuts[0] + bank.cuts[-1]) / 2), settings["unknown_prior_sd"]
        else:
            mean, sd = bank.level_middle(prior_level), settings["prior_sd"]
        return model.normal_log_prior(mean, sd), mean, sd
    n = len(bank.levels)
    if prior_level is None:
        shares = np.full(n, 1.0 / n)
    else:
        k = bank.levels.index(prior_level)
        shares = np.zeros(n)
        neighbours = [j for j in (k - 1, k + 1) if 0 <= j < n]
        shares[neighbours] = (1.0 - settings["prior_right"]) / max(len(neighbours), 1)
        shares[k] = settings["prior_right"] if neighbours else 1.0
    lower, upper = bank.band_bounds()
    # Inner edges are smoothed with prior_edge_sd; the outer edges of the open end bands with SD 1.
    low_sd = np.full(n, float(settings["prior_edge_sd"]))
    high_sd = low_sd.copy()
    low_sd[0] = high_sd[-1] = 1.0
    grid = model.GRID[:, None]
    bands = (ndtr((grid - lower) / low_sd) - ndtr((grid - upper) / high_sd)) / (upper - lower)
    # A small share spread over all levels: a self-assessment can be off by more than one level.
    floor = settings["prior_floor"]
    density = np.maximum(bands @ ((1.0 - floor) * shares + floor / n), 1e-300)
    _, mean, sd = model.posterior_moments(np.log(density))
    return np.log(density), mean, sd


def _peak_at_zero(log_density):
    return log_density - log_density.max()


def start(bank: Bank, prior_level=None, seen=(), seed=None, **settings):
    """Begin a test and return its state.

    ``prior_level`` is the learner's self-assessed level (a level name of the
    bank) or None; the prior is normal, centred on the middle of that level's
    band.  ``seen`` lists item ids from the learner's previous attempt, which
    are not offered again.  ``seed`` makes the test reproducible (random if
    None).  Keyword ``settings`` override :data:`DEFAULTS`.
    """
    settings = _check_settings(bank, settings)
    if prior_level is not None and prior_level not in bank.levels:
        raise ValueError(f"unknown level {prior_level!r}; the bank has {bank.levels}")
    log_prior, mean, sd = _log_prior(bank, prior_level, settings)
    return {
        "version": STATE_VERSION,
        "bank": bank.fingerprint,
        "seed": secrets.randbits(63) if seed is None else int(seed),
        "settings": settings,
        "prior_level": prior_level,
        "prior": [mean, sd],
        "seen": [str(i) for i in seen if str(i) in bank.index],
        "items": [],
        "responses": [],
        "log_post": _peak_at_zero(log_prior).tolist(),
        "pending": None,
        "stop_reason": None,
    }


def _stop_reason(state, bank, weights, sem):
    settings = state["settings"]
    n = len(state["items"])
    if n >= settings["max_items"]:
        return "max_items"
    if n < settings["min_items"]:
        return None
    max_sem = settings.get("max_stop_sem")
    if (weights @ bank.band_weights).max() >= settings["confidence"] and (max_sem is None or sem <= max_sem):
        return "level_decided"
    if sem <= settings["sem_stop"] and np.abs(bank.cuts - weights @ model.GRID).min() >= sem:
        return "sem"
    cost = settings.get("item_cost")
    if cost is not None and (max_sem is None or sem <= max_sem):
        if _lookahead_gain(weights, bank, settings["max_items"] - n, settings["future_item_info"]) < cost:
            return "no_gain"
    return None


_KERNELS = {}


def _kernel(sd):
    """K[g, h]: probability that a future estimate lands on grid point h when theta is grid point g."""
    key = round(sd, 6)
    if key not in _KERNELS:
        k = np.exp(-0.5 * ((model.GRID[None, :] - model.GRID[:, None]) / sd) ** 2)
        _KERNELS[key] = k / k.sum(axis=1, keepdims=True)
    return _KERNELS[key]


def _lookahead_gain(weights, bank, remaining, info):
    """Largest expected gain in P(right level) per item over look-aheads of up to ``remaining`` items.

    Pre-posterior analysis: m more items are summarised as a normal likelihood
    with SD 1/sqrt(m * info) around the true theta; the expected final
    probability of the chosen level is sum over outcomes of max over levels.
    """
    joint = weights[:, None] * bank.band_weights  # P(theta, level)
    now = joint.sum(axis=0).max()
    best = 0.0
    for m in sorted({min(m, remaining) for m in (2, 5, 10, remaining)}):
        if m <= 0:
            continue
        future = (_kernel((m * info) ** -0.5).T @ joint).max(axis=1).sum()
        best = max(best, (future - now) / m)
    return best


def _scores(state, bank, weights, idx):
    """Selection score of the items ``idx`` under the current posterior ``weights``.

    "mi": mutual information between the answer and the level, plus
    ``theta_weight`` times the mutual information between the answer and
    theta; "fisher": posterior-weighted Fisher information.  Both are a few
    matrix products over the precomputed grid tables.
    """
    if _setting(state, "selection") == "fisher":
        return (bank.info @ weights)[idx]
    level_p = weights @ bank.band_weights
    keep = level_p > 1e-12
    level_p = level_p[keep]
    p_right = np.clip(bank.p @ weights, 1e-12, 1 - 1e-12)[idx]
    theta_mi = _entropy(p_right) - (bank.response_entropy @ weights)[idx]
    right = np.clip((bank.p @ (weights[:, None] * bank.band_weights[:, keep]))[idx], 1e-300, None)  # P(right, level)
    wrong = np.clip(level_p - right, 1e-300, None)
    level_mi = (right * np.log(right / (p_right[:, None] * level_p))).sum(axis=1) + (
        wrong * np.log(wrong / ((1 - p_right)[:, None] * level_p))
    ).sum(axis=1)
    return level_mi + _setting(state, "theta_weight") * theta_mi


def _entropy(p):
    return -(p * np.log(p) + (1 - p) * np.log1p(-p))


def _select(state, bank, weights):
    """Index of the next item, or None when no eligible item is left."""
    given = np.array([bank.index[i] for i in state["items"]], dtype=int)
    # Sympson-Hetter style exposure control: item i takes part in this test
    # with probability bank.eligibility[i], drawn once per test from the seed.
    if bank.eligibility.min() < 1.0:
        draws = _uniforms(state["seed"], _ELIGIBILITY_STREAM + np.arange(len(bank)))
        available = draws < bank.eligibility
    else:
        available = np.ones(len(bank), dtype=bool)
    available[given] = False
    available[[bank.index[i] for i in state["seen"]]] = False
    for i in given:
        available[bank.enemies[i]] = False
    n_skills = len(bank.skill_names)
    deficit = _shares(bank, state["settings"]) * (given.size + 1) - np.bincount(
        bank.skill_index[given], minlength=n_skills
    )
    deficit[np.bincount(bank.skill_index[available], minlength=n_skills) == 0] = -np.inf
    if not np.isfinite(deficit.max()):
        return None
    candidates = available & (deficit >= deficit.max() - 1e-9)[bank.skill_index]
    scores = np.full(len(bank), -np.inf)
    scores[candidates] = _scores(state, bank, weights, np.flatnonzero(candidates))
    k = state["settings"]["randomesque"]
    early = _setting(state, "randomesque_items")
    if early is not None and given.size >= early:
        k = 1
    k = min(k, int(candidates.sum()))
    best = np.sort(np.argpartition(-scores, k - 1)[:k])
    return int(best[int(_uniforms(state["seed"], [given.size])[0] * k)])


def next_item(state, bank=None):
    """Id of the item to present next, or None when the test is over.

    Calling it again before :func:`record` returns the same item, so a page
    reload does not change the question.
    """
    if state["pending"] is not None:
        return state["pending"]
    if state["stop_reason"] is not None:
        return None
    bank = _bank(state, bank)
    weights, _, sem = model.posterior_moments(np.asarray(state["log_post"]))
    reason = _stop_reason(state, bank, weights, sem)
    index = None if reason else _select(state, bank, weights)
    if index is None:
        state["stop_reason"] = reason or "bank_exhausted"
        return None
    state["pending"] = bank.ids[index]
    return state["pending"]


def record(state, item_id, correct, bank=None):
    """Record the answer to the item last returned by :func:`next_item`; return the state."""
    item_id = str(item_id)
    if item_id != state["pending"]:
        raise ValueError(f"item {item_id!r} was not offered (pending item: {state['pending']!r})")
    bank = _bank(state, bank)
    i = bank.index[item_id]
    log_post = np.asarray(state["log_post"]) + (bank.log_p[i] if correct else bank.log_q[i])
    state["log_post"] = (log_post - log_post.max()).tolist()
    state["items"].append(item_id)
    state["responses"].append(int(bool(correct)))
    state["pending"] = None
    return state


def _skill_estimates(state, bank):
    if "log_prior" in state:  # states from before the prior was recomputed here
        prior = np.asarray(state["log_prior"])
    else:  # not kept in the state, which is written on every answer: it follows from these
        prior = _peak_at_zero(_log_prior(bank, state["prior_level"], state["settings"])[0])
    out = {}
    for skill in bank.skill_names:
        log_post, count = prior.copy(), 0
        for item_id, correct in zip(state["items"], state["responses"], strict=True):
            i = bank.index[item_id]
            if bank.skills[i] == skill:
                log_post += bank.log_p[i] if correct else bank.log_q[i]
                count += 1
        _, theta, sem = model.posterior_moments(log_post)
        out[skill] = {
            "theta": theta,
            "sem": sem,
            "items": count,
            "too_few_items": count < state["settings"]["min_skill_items"],
        }
    return out


def result(state, bank=None):
    """Placement outcome of a (finished or ongoing) test.

    Returns a dict: ``level`` (most probable level), ``theta`` (EAP), ``sem``
    (posterior SD), ``p_level`` (posterior probability that ``level`` is
    right), ``neighbour`` (the adjacent level when its probability reaches
    the ``borderline`` setting, else None), ``level_probabilities``,
    ``items_used``, ``finished``, ``stop_reason`` and ``skills`` (per skill:
    ``theta``, ``sem``, ``items`` and ``too_few_items``).
    """
    bank = _bank(state, bank)
    weights, theta, sem = model.posterior_moments(np.asarray(state["log_post"]))
    probs = weights @ bank.band_weights
    k = int(np.argmax(probs))
    adjacent = [j for j in (k - 1, k + 1) if 0 <= j < len(probs)]
    best_adjacent = max(adjacent, key=lambda j: probs[j])
    reason = state["stop_reason"] or _stop_reason(state, bank, weights, sem)
    return {
        "level": bank.levels[k],
        "theta": theta,
        "sem": sem,
        "p_level": float(probs[k]),
        "neighbour": bank.levels[best_adjacent]
        if probs[best_adjacent] >= state["settings"]["borderline"]
        else None,
        "level_probabilities": dict(zip(bank.levels, probs.tolist(), strict=True)),
        "items_used": len(state["items"]),
        "finished": reason is not None,
        "stop_reason": reason,
        "skills": _skill_estimates(state, bank),
    }
