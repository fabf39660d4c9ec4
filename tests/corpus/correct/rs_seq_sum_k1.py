"""verl rollout_rs="seq_sum_k1" written with a sibling helper: reject the whole sequence by the sum
of the token k1 divergence (see _seq_rejection.py)."""
from _seq_rejection import rejection_loss

FUZZ = {"fn": "loss", "method": "rs_seq_sum_k1", "args": []}


def loss(logp, logp_mu, adv, mask, lower=0.5, upper=2.0):
    return rejection_loss(logp, logp_mu, adv, mask, "sum", "k1", lower=lower, upper=upper)
