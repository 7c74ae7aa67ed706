"""Re-estimate item parameters from collected responses.

Method: marginal maximum likelihood by EM (Bock-Aitkin) over
:data:`placement.model.GRID` with a standard normal ability distribution.
The E-step gives, per item and grid point, the expected number of answers
and of right answers; the M-step takes Fisher-scoring steps on ``a`` and
``b`` of every item at once, with weak priors (log a ~ N(0, 0.5), b ~
N(0, 2)) to keep sparse items finite.  ``c`` is kept at its bank value: it is
set by the number of answer options and is poorly identified from data.

The new scale is linked to the current bank by mean/sigma over the
re-estimated items (``b* = A b + B``, ``a* = a / A``), so the bank's cut
scores keep their meaning.  Items with fewer than ``min_responses`` answers
keep their old parameters and are reported as under-used.  Item fit is the
RMSD between the observed and the model curve over the grid, weighted by
the expected number of answers at each point; items above ``misfit`` are
reported.
"""

import copy
import csv
import json
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from . import model
from .bank import Bank, load_bank

_LOG_A_SD = 0.5
_B_SD = 2.0


@dataclass
class Responses:
    """Responses as parallel index arrays, plus what was dropped while reading."""

    learner: np.ndarray
    item: np.ndarray
    correct: np.ndarray
    n_learners: int
    unknown_items: dict = field(default_factory=dict)
    duplicates: int = 0


def read_responses(path, bank: Bank):
    """Read ``learner_id,item_id,correct`` rows (correct 0/1).

    Rows for items not in the bank are counted and skipped; a repeated
    (learner, item) pair keeps its first answer.  A malformed row raises
    ValueError naming the line.
    """
    learners, rows, seen = {}, [], set()
    unknown, duplicates = {}, 0
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"learner_id", "item_id", "correct"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: the header must be learner_id,item_id,correct")
        for line, row in enumerate(reader, start=2):
            if row["correct"] not in ("0", "1"):
                raise ValueError(f"{path}:{line}: correct must be 0 or 1 (got {row['correct']!r})")
            item = bank.index.get(row["item_id"])
            if item is None:
                unknown[row["item_id"]] = unknown.get(row["item_id"], 0) + 1
                continue
            learner = learners.setdefault(row["learner_id"], len(learners))
            if (learner, item) in seen:
                duplicates += 1
                continue
            seen.add((learner, item))
            rows.append((learner, item, int(row["correct"])))
    data = np.array(rows, dtype=int).reshape(-1, 3)
    return Responses(data[:, 0], data[:, 1], data[:, 2], len(learners), unknown, duplicates)


def _m_step(a, b, c, right, total, steps=2):
    """Fisher-scoring steps on (a, b) for all items; right/total are (items, grid)."""
    theta = model.GRID[None, :]
    for _ in range(steps):
        a_, b_, c_ = a[:, None], b[:, None], c[:, None]
        star = 1.0 / (1.0 + np.exp(-a_ * (theta - b_)))
        p = np.clip(c_ + (1 - c_) * star, 1e-9, 1 - 1e-9)
        slope = (1 - c_) * star * (1 - star)
        d_a, d_b = slope * (theta - b_), -slope * a_
        resid = (right - total * p) / (p * (1 - p))
        weight = total / (p * (1 - p))
        g_a = (resid * d_a).sum(1) - (np.log(a) / _LOG_A_SD**2 + 1) / a
        g_b = (resid * d_b).sum(1) - b / _B_SD**2
        h_aa = (weight * d_a * d_a).sum(1) + 1 / (a * _LOG_A_SD) ** 2
        h_bb = (weight * d_b * d_b).sum(1) + 1 / _B_SD**2
        h_ab = (weight * d_a * d_b).sum(1)
        det = h_aa * h_bb - h_ab**2
        step_a = np.clip((h_bb * g_a - h_ab * g_b) / det, -0.5, 0.5)
        step_b = np.clip((h_aa * g_b - h_ab * g_a) / det, -0.5, 0.5)
        a, b = np.maximum(a + step_a, 0.05), b + step_b
    return a, b


def _e_step(a, b, c, y_right, y_wrong):
    log_p, log_q = model.log_prob_pair(model.GRID[None, :], a[:, None], b[:, None], c[:, None])
    log_post = y_right @ log_p + y_wrong @ log_q + model.normal_log_prior(0.0, 1.0)
    post = np.exp(log_post - log_post.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    return post


def estimate(bank: Bank, responses: Responses, min_responses=100, max_iter=300, tol=1e-3):
    """Run the EM and the linking; return a dict of per-item arrays and diagnostics.

    Keys: ``a``, ``b`` (linked, old values for under-used items), ``n``
    (responses per item), ``updated`` (mask), ``rmsd``, ``iterations``,
    ``converged``, ``link`` (A, B).
    """
    shape = (responses.n_learners, len(bank))
    ones = np.ones(responses.item.size)
    answered = sparse.csr_matrix((ones, (responses.learner, responses.item)), shape=shape)
    y_right = sparse.csr_matrix((responses.correct.astype(float), (responses.learner, responses.item)), shape=shape)
    y_wrong = answered - y_right
    counts = np.asarray(answered.sum(axis=0)).ravel()
    updated = counts >= min_responses
    if updated.sum() < 2:
        raise ValueError(f"fewer than two items have {min_responses} responses; nothing to calibrate")
    a, b, c = bank.a.copy(), bank.b.copy(), bank.c
    converged = False
    for iteration in range(1, max_iter + 1):
        post = _e_step(a, b, c, y_right, y_wrong)
        right, total = np.asarray(y_right.T @ post), np.asarray(answered.T @ post)
        new_a, new_b = _m_step(a, b, c, right, total)
        new_a, new_b = np.where(updated, new_a, a), np.where(updated, new_b, b)
        change = max(np.abs(new_a - a).max(), np.abs(new_b - b).max())
        a, b = new_a, new_b
        if change < tol:
            converged = True
            break
    p = model.prob(model.GRID[None, :], a[:, None], b[:, None], c[:, None])
    observed = np.divide(right, total, out=p.copy(), where=total > 1e-9)
    rmsd = np.sqrt((total * (observed - p) ** 2).sum(1) / np.maximum(total.sum(1), 1e-9))
    scale = bank.b[updated].std() / b[updated].std()
    shift = bank.b[updated].mean() - scale * b[updated].mean()
    return {
        "a": np.where(updated, a / scale, bank.a),
        "b": np.where(updated, scale * b + shift, bank.b),
        "n": counts.astype(int),
        "updated": updated,
        "rmsd": rmsd,
        "iterations": iteration,
        "converged": converged,
        "link": (float(scale), float(shift)),
    }


@dataclass
class Report:
    """What a calibration run did, for printing."""

    bank: Bank
    responses: Responses
    fit: dict
    misfit_threshold: float

    def misfitting(self):
        """(id, rmsd) of re-estimated items whose RMSD exceeds the threshold, worst first."""
        flagged = np.flatnonzero(self.fit["updated"] & (self.fit["rmsd"] > self.misfit_threshold))
        return sorted(((self.bank.ids[i], float(self.fit["rmsd"][i])) for i in flagged), key=lambda t: -t[1])

    def under_used(self):
        """(id, responses) of items kept at their old parameters."""
        return [(self.bank.ids[i], int(self.fit["n"][i])) for i in np.flatnonzero(~self.fit["updated"])]

    def text(self):
        """Human-readable summary."""
        fit, resp = self.fit, self.responses
        lines = [
            f"responses {resp.item.size} from {resp.n_learners} learners; "
            f"{int(fit['updated'].sum())} of {len(self.bank)} items re-estimated",
            f"EM {'converged' if fit['converged'] else 'did NOT converge'} after {fit['iterations']} iterations; "
            f"linked to the current bank with b* = {fit['link'][0]:.3f} b + {fit['link'][1]:+.3f}",
        ]
        if resp.unknown_items:
            lines.append(f"skipped {sum(resp.unknown_items.values())} rows for unknown items: "
                         + ", ".join(sorted(resp.unknown_items)[:20]))
        if resp.duplicates:
            lines.append(f"skipped {resp.duplicates} repeated learner/item rows (first answer kept)")
        misfit = self.misfitting()
        lines.append(f"misfitting items (RMSD > {self.misfit_threshold}): {len(misfit)}")
        lines += [f"  {item_id}  RMSD {value:.3f}" for item_id, value in misfit]
        under = self.under_used()
        lines.append(f"under-used items (kept old parameters): {len(under)}")
        lines += [f"  {item_id}  {n} responses" for item_id, n in under]
        return "\n".join(lines)


def calibrate_files(responses_path, bank_path, out_path, min_responses=100, misfit=0.1):
    """Calibrate ``bank_path`` from ``responses_path`` and write ``out_path``; return a :class:`Report`."""
    with open(bank_path, encoding="utf-8") as fh:
        data = json.load(fh)
    bank = load_bank(data)
    responses = read_responses(responses_path, bank)
    fit = estimate(bank, responses, min_responses=min_responses)
    new = copy.deepcopy(data)
    for item, a, b in zip(new["items"], fit["a"], fit["b"], strict=True):
        item["a"], item["b"] = round(float(a), 4), round(float(b), 4)
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(new, fh, indent=1, ensure_ascii=False)
    return Report(bank, responses, fit, misfit)
