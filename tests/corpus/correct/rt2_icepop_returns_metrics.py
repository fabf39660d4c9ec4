"""Red-team regression case (correct): IcePop returning (loss, metrics), as most trainers' loss
functions do; the fuzzer takes the first element as the loss."""
import torch

FUZZ = {'fn': 'icepop_loss', 'method': 'icepop', 'args': ['--param', 'clip_min=0.5', '--param', 'clip_max=5']}


def icepop_loss(logp, logp_mu, adv, mask, clip_min=0.5, clip_max=5.0):
    ratio = torch.where(mask, logp - logp_mu, torch.zeros_like(logp)).exp()
    keep = (mask & (ratio >= clip_min) & (ratio <= clip_max)).detach()
    n = mask.sum().clamp(min=1)
    loss = -torch.where(keep, ratio * adv, torch.zeros_like(ratio)).sum() / n
    return loss, {"rejected": ((~keep & mask).sum() / n).item()}
