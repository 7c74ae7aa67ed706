import math

import numpy as np
import pytest

from placement import model


def test_prob_known_values():
    assert model.prob(0.0, 1.0, 0.0) == pytest.approx(0.5)
    assert model.prob(1.0, 1.5, 1.0, 0.2) == pytest.approx(0.6)  # (1 + c) / 2 at theta = b
    assert model.prob(1.0, 1.5, 0.0, 0.2) == pytest.approx(0.2 + 0.8 / (1 + math.exp(-1.5)))
    assert model.prob(-1.0, 2.0, 0.5) == pytest.approx(1 / (1 + math.exp(3.0)))


def test_no_scaling_constant():
    # logistic metric: a = 1, one unit above b gives 1 / (1 + e^-1), not e^-1.7
    assert model.prob(1.0, 1.0, 0.0) == pytest.approx(0.7310585786)


def test_information_known_values():
    assert model.information(0.3, 1.2, 0.3) == pytest.approx(1.2**2 / 4)  # 2PL peak a^2/4
    # 3PL, a=1, b=0, c=0.25 at theta=0: P=0.625 -> (0.375/0.625) * (0.375/0.75)^2 = 0.15
    assert model.information(0.0, 1.0, 0.0, 0.25) == pytest.approx(0.15)


@pytest.mark.parametrize("a,b,c", [(0.8, -1.0, 0.0), (1.5, 0.5, 0.2), (2.0, 1.0, 0.333)])
def test_information_matches_derivative_formula(a, b, c):
    theta = np.linspace(-3, 3, 13)
    h = 1e-5
    dp = (model.prob(theta + h, a, b, c) - model.prob(theta - h, a, b, c)) / (2 * h)
    p = model.prob(theta, a, b, c)
    np.testing.assert_allclose(model.information(theta, a, b, c), dp**2 / (p * (1 - p)), rtol=1e-6)


def test_posterior_moments_of_normal_prior():
    _, mean, sd = model.posterior_moments(model.normal_log_prior(0.5, 0.8))
    assert mean == pytest.approx(0.5, abs=1e-6)
    assert sd == pytest.approx(0.8, abs=1e-3)
