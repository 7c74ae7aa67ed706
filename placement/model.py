"""Three-parameter logistic (3PL) item response model and the quadrature grid.

The model is on the logistic metric without the 1.7 scaling constant::

    P(theta) = c + (1 - c) / (1 + exp(-a * (theta - b)))

``c = 0`` gives the 2PL.  All functions broadcast over numpy arrays.
"""

import numpy as np

#: Quadrature grid shared by estimation, selection and calibration.
GRID = np.linspace(-5.0, 5.0, 101)
#: Spacing of :data:`GRID`.
GRID_STEP = float(GRID[1] - GRID[0])

# Probabilities are clipped away from 0 and 1 so that logs stay finite.
_EPS = 1e-10


def prob(theta, a, b, c=0.0):
    """Probability of a correct response under the 3PL model."""
    return c + (1.0 - c) / (1.0 + np.exp(-a * (np.asarray(theta) - b)))


def information(theta, a, b, c=0.0):
    """Fisher information of a 3PL item at ``theta``.

    ``I = a^2 * (Q / P) * ((P - c) / (1 - c))^2``, which reduces to
    ``a^2 P Q`` for the 2PL.
    """
    p = np.clip(prob(theta, a, b, c), _EPS, 1.0 - _EPS)
    return a**2 * ((1.0 - p) / p) * ((p - c) / (1.0 - c)) ** 2


def log_prob_pair(theta, a, b, c=0.0):
    """Return ``(log P, log (1 - P))``, clipped so both are finite."""
    p = np.clip(prob(theta, a, b, c), _EPS, 1.0 - _EPS)
    return np.log(p), np.log1p(-p)


def normal_log_prior(mean, sd, grid=GRID):
    """Log density (up to a constant) of a normal prior evaluated on ``grid``."""
    return -0.5 * ((grid - mean) / sd) ** 2


def posterior_moments(log_post, grid=GRID):
    """Normalised posterior weights, mean and SD from a log-posterior on ``grid``."""
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean = float(w @ grid)
    var = float(w @ (grid - mean) ** 2)
    return w, mean, var**0.5
