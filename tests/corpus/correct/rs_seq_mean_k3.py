"""verl rollout_rs="seq_mean_k3" written with a sibling helper: reject the whole sequence by the mean
of the token k3 divergence (see _seq_rejection.py)."""
from _seq_rejection import rejection_loss

FUZZ = {"fn": "loss", "method": "rs_seq_mean_k3", "args": []}


def loss(logp, logp_mu, adv, mask, delta=0.1):
    return rejection_loss(logp, logp_mu, adv, mask, "mean", "k3", delta=delta)
