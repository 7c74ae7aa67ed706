"""Item bank: loading, validation and per-bank precomputation.

See ``placement/README.md`` for the JSON format.  A :class:`Bank` is
immutable once built; it precomputes response probabilities and item
information on the quadrature grid so that each test step is a few
vectorised operations.  Every bank built in a process is registered under
its fingerprint, which is what a test state refers to.
"""

import hashlib
import json
import math
import weakref
from numbers import Real

import numpy as np

from . import model

REQUIRED_FIELDS = ("id", "a", "b", "c", "skill", "level")

_REGISTRY = weakref.WeakValueDictionary()


class BankError(ValueError):
    """An item bank file is malformed; the message names the item and field."""


def _number(value, where, field):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise BankError(f"{where}: field '{field}' must be a finite number (got {value!r})")
    return float(value)


def _check_cuts(data):
    cuts = data.get("cut_scores")
    if not isinstance(cuts, dict) or not cuts:
        raise BankError("bank: field 'cut_scores' must be a non-empty object {level: theta}")
    base = data.get("base_level", "A1")
    if not isinstance(base, str) or not base:
        raise BankError("bank: field 'base_level' must be a non-empty string")
    if base in cuts:
        raise BankError(f"bank: base_level '{base}' must not also appear in 'cut_scores'")
    names = list(cuts)
    values = [_number(cuts[k], f"cut_scores['{k}']", "theta") for k in names]
    for k in range(1, len(values)):
        if values[k] <= values[k - 1]:
            raise BankError(
                f"bank: 'cut_scores' must be strictly ascending: '{names[k]}' ({values[k]}) "
                f"does not come after '{names[k - 1]}' ({values[k - 1]})"
            )
    return [base, *cuts], np.array(values)


def _check_items(raw_items, levels):
    if not isinstance(raw_items, list) or not raw_items:
        raise BankError("bank: field 'items' must be a non-empty list")
    items, seen = [], set()
    for pos, item in enumerate(raw_items):
        if not isinstance(item, dict):
            raise BankError(f"item #{pos}: must be an object")
        where = f"item '{item['id']}'" if "id" in item else f"item #{pos}"
        for field in REQUIRED_FIELDS:
            if field not in item:
                raise BankError(f"{where}: missing field '{field}'")
        item_id = item["id"]
        if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or item_id == "":
            raise BankError(f"{where}: field 'id' must be a non-empty string or an integer")
        item_id = str(item_id)
        if item_id in seen:
            raise BankError(f"{where}: duplicate id '{item_id}'")
        seen.add(item_id)
        a = _number(item["a"], where, "a")
        b = _number(item["b"], where, "b")
        c = _number(item["c"], where, "c")
        if a <= 0:
            raise BankError(f"{where}: field 'a' must be > 0 (got {a})")
        if not 0 <= c < 0.5:
            raise BankError(f"{where}: field 'c' must be in [0, 0.5) (got {c})")
        if not isinstance(item["skill"], str) or not item["skill"]:
            raise BankError(f"{where}: field 'skill' must be a non-empty string")
        if item["level"] not in levels:
            raise BankError(f"{where}: field 'level' is {item['level']!r}, not one of {levels}")
        enemies = item.get("enemies", [])
        if not isinstance(enemies, list):
            raise BankError(f"{where}: field 'enemies' must be a list of item ids")
        eligibility = _number(item.get("eligibility", 1.0), where, "eligibility")
        if not 0 < eligibility <= 1:
            raise BankError(f"{where}: field 'eligibility' must be in (0, 1] (got {eligibility})")
        enemies = [str(e) for e in enemies]
        items.append((item_id, a, b, c, item["skill"], item["level"], eligibility, enemies))
    for item_id, *_, enemies in items:
        for enemy in enemies:
            if enemy not in seen or enemy == item_id:
                raise BankError(f"item '{item_id}': field 'enemies' names unknown item '{enemy}'")
    return items


class Bank:
    """A validated item bank with its grid precomputations.

    Attributes: ``ids`` (list of str), ``a``, ``b``, ``c``, ``eligibility`` (arrays),
    ``skills`` (skill name per item), ``skill_names`` (sorted distinct skills),
    ``skill_index`` (int code per item), ``levels`` (level names, lowest
    first), ``cuts`` (array of cut scores), ``enemies`` (index arrays),
    ``fingerprint`` (content hash), and on the grid ``log_p``/``log_q``
    (log-probabilities of a right/wrong answer), ``p`` (probability of a
    right answer), ``response_entropy`` and ``info`` (Fisher information),
    each of shape (items, grid points).
    """

    def __init__(self, data):
        """Validate a bank given as a parsed JSON dict; raise :class:`BankError` if bad."""
        if not isinstance(data, dict):
            raise BankError("bank: top level must be an object with 'items' and 'cut_scores'")
        self.levels, self.cuts = _check_cuts(data)
        items = _check_items(data.get("items"), self.levels)
        self.data = data
        self.ids = [it[0] for it in items]
        self.index = {item_id: i for i, item_id in enumerate(self.ids)}
        self.a = np.array([it[1] for it in items])
        self.b = np.array([it[2] for it in items])
        self.c = np.array([it[3] for it in items])
        self.skills = [it[4] for it in items]
        self.item_levels = [it[5] for it in items]
        self.eligibility = np.array([it[6] for it in items])
        self.skill_names = sorted(set(self.skills))
        self.skill_index = np.array([self.skill_names.index(s) for s in self.skills])
        neighbours = [set() for _ in items]
        for i, (*_, enemies) in enumerate(items):
            for enemy in enemies:
                neighbours[i].add(self.index[enemy])
                neighbours[self.index[enemy]].add(i)
        self.enemies = [np.array(sorted(n), dtype=int) for n in neighbours]
        canonical = json.dumps(
            {"items": items, "cuts": self.cuts.tolist(), "levels": self.levels}, sort_keys=True
        )
        self.fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        self._precompute()
        _REGISTRY.setdefault(self.fingerprint, self)

    def _precompute(self):
        grid = model.GRID[None, :]
        a, b, c = self.a[:, None], self.b[:, None], self.c[:, None]
        self.log_p, self.log_q = model.log_prob_pair(grid, a, b, c)
        self.info = model.information(grid, a, b, c)
        self.p = np.exp(self.log_p)
        # Entropy of the response at each grid point (for the mutual-information selection).
        self.response_entropy = -(self.p * self.log_p + (1.0 - self.p) * self.log_q)
        # band_weights[g, l]: share of grid cell g lying inside level band l
        # (the end cells stretch to +-infinity, approximated by +-1e9).
        edges = np.concatenate([[-1e9], (model.GRID[1:] + model.GRID[:-1]) / 2, [1e9]])
        bounds = np.concatenate([[-1e9], self.cuts, [1e9]])
        overlap = np.minimum(bounds[None, 1:], edges[1:, None]) - np.maximum(bounds[None, :-1], edges[:-1, None])
        overlap = np.clip(overlap, 0.0, None)
        self.band_weights = overlap / overlap.sum(axis=1, keepdims=True)

    def __len__(self):
        """Number of items."""
        return len(self.ids)

    def level_of(self, theta):
        """Level name(s) whose band contains ``theta`` (scalar or array)."""
        pos = np.searchsorted(self.cuts, theta, side="right")
        if np.ndim(pos) == 0:
            return self.levels[int(pos)]
        return [self.levels[p] for p in pos]

    def band_bounds(self):
        """Lower and upper edges of every level band; open end bands get the mean inner width."""
        widths = np.diff(self.cuts)
        width = float(widths.mean()) if widths.size else 1.0
        return np.concatenate([[self.cuts[0] - width], self.cuts]), np.concatenate([self.cuts, [self.cuts[-1] + width]])

    def level_middle(self, level):
        """Middle of a level's band; open end bands get the mean inner width."""
        if level not in self.levels:
            raise ValueError(f"unknown level {level!r}; the bank has {self.levels}")
        widths = np.diff(self.cuts)
        width = float(widths.mean()) if widths.size else 1.0
        k = self.levels.index(level)
        if k == 0:
            return float(self.cuts[0] - width / 2)
        if k == len(self.levels) - 1:
            return float(self.cuts[-1] + width / 2)
        return float((self.cuts[k - 1] + self.cuts[k]) / 2)


def load_bank(source):
    """Load and validate a bank from a JSON file path or an already parsed dict."""
    if isinstance(source, dict):
        return Bank(source)
    with open(source, encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise BankError(f"bank: not valid JSON ({exc})") from exc
    return Bank(data)


def registered_bank(fingerprint):
    """Return the live bank with this fingerprint, or raise LookupError.

    Banks are held weakly: keep a reference to the loaded bank (e.g. on the
    web app) for states to find it.
    """
    try:
        return _REGISTRY[fingerprint]
    except KeyError:
        raise LookupError(
            f"no bank with fingerprint {fingerprint} is loaded in this process; "
            "call load_bank() on the bank file first or pass bank= explicitly"
        ) from None
