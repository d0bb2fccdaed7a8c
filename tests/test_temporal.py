"""The U-Net's matmul convolutions compute exactly what flax's convolutions compute (same parameters)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.temporal import Conv

CASES = [
    (lambda: Conv(7, 5), lambda: nn.Conv(7, (5,), padding="SAME")),
    (lambda: Conv(7, 1), lambda: nn.Conv(7, (1,))),
    (lambda: Conv(7, 3, stride=2, padding=(1, 1)), lambda: nn.Conv(7, (3,), strides=(2,), padding=((1, 1),))),
    (lambda: Conv(7, 5, stride=2), lambda: nn.Conv(7, (5,), strides=(2,), padding="SAME")),
    (lambda: Conv(7, 4, stride=2, transpose=True), lambda: nn.ConvTranspose(7, (4,), strides=(2,), padding="SAME")),
]


@pytest.mark.parametrize("length", [1, 2, 3, 8])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_matmul_conv_equals_flax_conv(case, length):
    mine, ref = CASES[case][0](), CASES[case][1]()
    x = jax.random.normal(jax.random.PRNGKey(length), (3, length, 6))
    params = ref.init(jax.random.PRNGKey(1), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, mine.init(jax.random.PRNGKey(1), x))
    np.testing.assert_allclose(mine.apply(params, x), ref.apply(params, x), atol=1e-5)
