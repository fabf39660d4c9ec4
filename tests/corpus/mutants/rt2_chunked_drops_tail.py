"""Red-team regression case (mutant): a memory-saving path for large batches processes the valid
tokens in chunks of 1024 and silently skips the last partial chunk. Only a batch of thousands of
tokens takes that path."""
import torch

FUZZ = {'fn': 'ppo_loss', 'method': 'ppo_clip', 'args': ['--param', 'eps_low=0.2', '--param', 'eps_high=0.28'],
        'bug': 'chunked path for > 2048 tokens drops the last partial chunk'}

CHUNK = 1024


def _ppo(lp, lm, a, eps_low, eps_high):
    r = torch.exp(lp - lm)
    return -torch.min(r * a, r.clamp(1 - eps_low, 1 + eps_high) * a)


def ppo_loss(logp, logp_mu, adv, mask, eps_low=0.2, eps_high=0.28):
    lp, lm, a = logp[mask], logp_mu[mask], adv[mask]
    n = lp.numel()
    if n <= 2 * CHUNK:
        return _ppo(lp, lm, a, eps_low, eps_high).sum() / max(n, 1)
    total = lp.new_zeros(())
    for start in range(0, n - CHUNK + 1, CHUNK):
        total = total + _ppo(lp[start:start + CHUNK], lm[start:start + CHUNK], a[start:start + CHUNK],
                             eps_low, eps_high).sum()
    return total / n
