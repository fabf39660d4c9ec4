"""Red-team regression case (correct): CISPO as a torch.nn.Module, the instance is the target.
Its forward takes no global counts: the fuzzer must read forward's arguments, not Module.__call__'s
(*args, **kwargs), or it passes num_tokens and reports the TypeError as a deviation."""
import torch
from torch import nn

FUZZ = {'fn': 'cispo_loss', 'method': 'cispo', 'args': ['--param', 'clip_min=0', '--param', 'clip_max=1.28']}


class CISPO(nn.Module):
    def __init__(self, clip_min: float = 0.0, clip_max: float = 1.28):
        super().__init__()
        self.clip_min, self.clip_max = clip_min, clip_max

    def forward(self, logp, logp_mu, adv, mask, clip_min=None, clip_max=None):
        lo = self.clip_min if clip_min is None else clip_min
        hi = self.clip_max if clip_max is None else clip_max
        w = torch.exp(torch.where(mask, logp - logp_mu, torch.zeros_like(logp))).clamp(lo, hi).detach()
        per_token = torch.where(mask, -w * adv * logp, torch.zeros_like(logp))
        return per_token.sum() / mask.sum().clamp(min=1)


cispo_loss = CISPO()
