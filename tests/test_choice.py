"""The nested logit: plain logit at lambda = 1, safe at extreme utilities, and clones that do
not take the market."""

import numpy as np
import pytest
from aiecosim.markets.choice import NestedLogit, plain_logit
from hypothesis import given, settings
from hypothesis import strategies as st


def softmax_with_outside(u, u0):
    both = np.concatenate([u, np.broadcast_to(u0, (u.shape[0],))[:, None]], axis=1)
    both = both - both.max(axis=1, keepdims=True)
    w = np.exp(both)
    return w / w.sum(axis=1, keepdims=True)


def test_lambda_one_reproduces_the_plain_logit_exactly():
    rng = np.random.default_rng(0)
    u = rng.normal(0, 3, size=(5000, 9))
    u0 = rng.normal(0, 3, size=5000)
    nests = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    p, _, p0 = plain_logit(nests).parts(u, u0)
    expected = softmax_with_outside(u, u0)
    np.testing.assert_allclose(p, expected[:, :-1], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p0, expected[:, -1], rtol=1e-12, atol=1e-15)
    # ... and draws the same choices from the same uniforms as inverting the plain logit's CDF
    uniform = rng.random(5000)
    choice = plain_logit(nests).draw(u, u0, uniform)
    plain = (np.cumsum(expected, axis=1) < uniform[:, None]).sum(axis=1)
    assert (choice == plain).all()


def test_probabilities_are_a_distribution_and_within_nest_shares_are_a_softmax():
    rng = np.random.default_rng(1)
    u = rng.normal(0, 2, size=(200, 6))
    model = NestedLogit(np.array([0, 0, 1, 2, 2, 2]), np.array([0.5, 0.8, 0.3]))
    p, within, p0 = model.parts(u, 0.0)
    np.testing.assert_allclose(p.sum(axis=1) + p0, 1.0, rtol=1e-12)
    expected_open = np.exp(u[:, 3:] / 0.3) / np.exp(u[:, 3:] / 0.3).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(within[:, 3:], expected_open, rtol=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1e12, 1e12), min_size=4, max_size=4),
    st.floats(-1e12, 1e12),
    st.sampled_from([np.float32, np.float64]),
)
def test_extreme_utilities_give_finite_probabilities(utilities, outside, dtype):
    u = np.array([utilities], dtype=dtype)
    model = NestedLogit(np.array([0, 1, 2, 2]), np.array([0.6, 0.6, 0.05]))
    p, within, p0 = model.parts(u, outside)
    assert np.isfinite(p).all() and np.isfinite(within).all() and np.isfinite(p0).all()
    assert p.sum() + p0[0] == pytest.approx(1.0, rel=1e-5)
    choice = model.draw(u, outside, np.array([0.999999]))
    assert 0 <= choice[0] <= 4


def clone_share(n_clones: int, lam: float) -> float:
    """Share of the open nest when one closed offer faces n identical open offers."""
    u = np.array([[1.0] + [0.8] * n_clones])
    nest = np.array([0] + [2] * n_clones)
    p, _, _ = NestedLogit(nest, np.array([0.6, 0.6, lam])).parts(u, 0.0)
    return float(p[0, 1:].sum())


def test_clones_add_little_to_their_nest_but_everything_to_a_plain_logit():
    # Ten times as many identical offers multiply the odds of their nest (against the rest)
    # by 10 ** lambda: about 2.2 at lambda = 0.35, against 10 in a plain logit.
    def odds(share):
        return share / (1 - share)

    nested = odds(clone_share(30, 0.35)) / odds(clone_share(3, 0.35))
    plain = odds(clone_share(30, 1.0)) / odds(clone_share(3, 1.0))
    assert nested == pytest.approx(10**0.35, rel=1e-9)
    assert plain == pytest.approx(10.0, rel=1e-9)
    assert clone_share(30, 0.35) < 0.7 < 0.9 < clone_share(30, 1.0)


def test_log_sum_is_the_expected_maximum_and_rises_with_a_better_offer():
    u = np.array([[1.0, 2.0, 0.5]])
    model = NestedLogit(np.array([0, 1, 2]), np.ones(3))
    assert model.log_sum(u, 0.0)[0] == pytest.approx(np.log(1 + np.exp(u).sum()))
    better = u + np.array([[0.0, 1.0, 0.0]])
    assert model.log_sum(better, 0.0)[0] > model.log_sum(u, 0.0)[0]


def test_offers_must_be_sorted_by_nest():
    with pytest.raises(ValueError, match="sorted by nest"):
        NestedLogit(np.array([1, 0]), np.ones(3))
