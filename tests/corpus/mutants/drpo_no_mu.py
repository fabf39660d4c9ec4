"""MUTANT of correct/drpo_literal_clamp.py — μ factor lost (SPO's χ² penalty instead of DRPO's).

DRPO (arXiv 2606.09821 eq. 6) as the official code writes it: the log-ratio is clamped to ±20
before exp and the penalty is the literal |Â| μ (r − 1)² / (2δ). Documented design choice: the
±20 clamp (beyond it the token is frozen). Computes in float32 (half-precision inputs upcast)."""
import torch

FUZZ = {"fn": "drpo_loss", "method": "drpo", "args": ["--param", "delta=0.2", "--option", "log_ratio_clamp=20"], "bug": "μ factor lost (SPO's χ² penalty instead of DRPO's)"}


def drpo_loss(logp, logp_mu, adv, mask, *, delta, num_tokens=None, num_seqs=None):
    logp, logp_mu, adv = logp.float(), logp_mu.float(), adv.float()
    log_ratio = torch.clamp(logp - logp_mu, -20.0, 20.0)
    ratio = torch.exp(log_ratio)
    mu = torch.exp(logp_mu)
    penalty = adv.abs() * (ratio - 1.0) ** 2 / (2.0 * delta)
    per_token = -(ratio * adv - penalty)
    per_token = torch.where(mask, per_token, torch.zeros_like(per_token))
    n = mask.sum().clamp(min=1) if num_tokens is None else num_tokens
    return per_token.sum() / n
