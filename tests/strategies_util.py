"""Small helpers shared by the test modules: random per-token inputs for every method."""
from drpo_analysis.bench.core import token_inputs


def random_inputs(method_name, rng, n=512, *, log_mu_low=-9.0):
    """ℓ, ℓ_μ, Â and the method's extras as float64 numpy arrays of shape [n] (Top-K sets K = 5)."""
    return token_inputs(method_name, n, rng=rng, log_mu_low=log_mu_low, k=5)
