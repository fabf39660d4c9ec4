"""Red-team regression case (correct): DPPO Binary-KL mask (eq. 12): KL(Bern(mu) || Bern(pi)) over {sampled, rest}."""
import torch

FUZZ = {'fn': 'dppo_bkl', 'method': 'dppo_binary_kl', 'args': ['--param', 'delta_low=0.05', '--param', 'delta_high=0.05', '--option', 'log_ratio_clamp=20']}


def dppo_bkl(logp, logp_mu, adv, mask, delta_low=0.05, delta_high=0.05):
    lp, lq = logp.detach().double(), logp_mu.detach().double()
    mu, pi = lq.exp(), lp.exp()
    l1m_mu = torch.log1p(-mu.clamp(max=1 - 1e-12))
    l1m_pi = torch.log1p(-pi.clamp(max=1 - 1e-12))
    kl = mu * (lq - lp) + (1 - mu) * (l1m_mu - l1m_pi)
    diverge_up = (adv > 0) & (pi > mu) & (kl > delta_high)
    diverge_dn = (adv < 0) & (pi < mu) & (kl > delta_low)
    keep = (~(diverge_up | diverge_dn)).to(logp.dtype)
    ratio = torch.exp((logp - logp_mu).clamp(-20, 20))
    obj = keep * ratio * adv
    obj = torch.where(mask, obj, torch.zeros_like(obj))
    return -obj.sum() / mask.sum().clamp(min=1)
