"""verl rollout_rs="seq_mean_k1" written with a sibling helper: reject the whole sequence by the mean
of the token k1 divergence (see _seq_rejection.py)."""
from _seq_rejection import rejection_loss

FUZZ = {"fn": "loss", "method": "rs_seq_mean_k1", "args": []}


def loss(logp, logp_mu, adv, mask, lower=0.5, upper=2.0):
    return rejection_loss(logp, logp_mu, adv, mask, "mean", "k1", lower=lower, upper=upper)
