"""Small helpers shared by the test modules: random per-token inputs for every method."""
import numpy as np

from drpo_analysis.core import methods


def random_inputs(method_name, rng, n=512, *, log_mu_low=-9.0):
    """ℓ, ℓ_μ, Â and the method's extras as float64 numpy arrays of shape [n]."""
    m = methods.get(method_name)
    ell_mu = rng.uniform(log_mu_low, 0.0, n)
    ell = np.minimum(ell_mu + rng.normal(0, 0.5, n), 0.0)
    adv = rng.normal(0, 1, n)
    extras = {}
    for e in m.extras:
        if e.name == "seq_log_ratio":
            extras[e.name] = rng.normal(0, 3e-4, n)
        elif e.name == "seq_len":
            extras[e.name] = rng.integers(1, 50, n).astype(float)
        elif e.name in ("topk_logp_mu", "topk_logp"):
            k = 5
            p = rng.dirichlet(np.ones(k + 1), n)[:, :k]
            extras[e.name] = np.log(p)
    return ell, ell_mu, adv, extras
