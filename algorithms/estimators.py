"""Sample-based estimators that plugins' ``diagnostics`` hooks use (pure JAX, so they run inside the jitted hook).

``ksg_mutual_information``: the Kraskov-Stoegbauer-Grassberger estimator (Kraskov et al., Phys. Rev. E 69,
066138, 2004; their estimator (1)) of the mutual information I(X; Y) in nats between two continuous vectors,
from M joint samples:

    I = psi(k) + psi(M) - < psi(n_x(i) + 1) + psi(n_y(i) + 1) >_i

where eps(i) is the max-norm distance from sample i to its k-th nearest neighbour in the joint space
(max(|x_i - x_j|_inf, |y_i - y_j|_inf)) and n_x(i), n_y(i) count the other samples strictly closer than
eps(i) in X alone and in Y alone. It needs no binning, is exact in expectation for independent variables
(up to a small negative bias at small M) and is checked in tests/test_figures.py against bivariate Gaussians,
whose MI is -1/2 log(1 - rho^2) per correlated coordinate pair. Ties (identical samples, e.g. actions
clipped to the box edge) would make distances zero; a caller breaks them with a small jitter.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma

KSG_K = 3  # neighbours (Kraskov et al. recommend k = 2-4; 3 is the common default, e.g. scikit-learn's)


def _chebyshev(x):
    """[M, D] -> [M, M] max-norm distances, the diagonal set to +inf (a sample is not its own neighbour)."""
    d = jnp.max(jnp.abs(x[:, None, :] - x[None, :, :]), axis=-1)
    return jnp.where(jnp.eye(x.shape[0], dtype=bool), jnp.inf, d)


def ksg_mutual_information(x, y, k: int = KSG_K):
    """I(X; Y) in nats from samples x [M, Dx], y [M, Dy] (KSG estimator 1; may be slightly negative)."""
    m = x.shape[0]
    dx, dy = _chebyshev(x), _chebyshev(y)
    eps = jnp.sort(jnp.maximum(dx, dy), axis=-1)[:, k - 1]  # distance to the k-th joint neighbour
    nx = jnp.sum(dx < eps[:, None], axis=-1)
    ny = jnp.sum(dy < eps[:, None], axis=-1)
    return digamma(k) + digamma(m) - jnp.mean(digamma(nx + 1.0) + digamma(ny + 1.0))
