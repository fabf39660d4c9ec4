"""Red-team regression case (correct): DPPO-TV, inputs may be half precision; probabilities and mask computed in fp32."""
import torch

FUZZ = {'fn': 'dppo_tv_mixed', 'method': 'dppo_binary_tv', 'args': ['--param', 'delta_low=0.2', '--param', 'delta_high=0.2', '--option', 'log_ratio_clamp=20']}


def dppo_tv_mixed(logp, logp_mu, adv, mask, delta_low=0.2, delta_high=0.2):
    lp32, lq32, a32 = logp.float(), logp_mu.float(), adv.float()
    diff = (lp32.detach().exp() - lq32.exp())
    s = torch.sign(a32)
    masked_out = ((s > 0) & (diff > delta_high)) | ((s < 0) & (-diff > delta_low))
    r = torch.exp(torch.clamp(lp32 - lq32, -20, 20))
    obj = torch.where(masked_out | ~mask, torch.zeros_like(r), r * a32)
    return (-obj.sum() / mask.sum().clamp(min=1)).to(logp.dtype)
