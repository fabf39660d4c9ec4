"""Masking helpers shared by a few corpus files (imported as a sibling module)."""
import torch


def masked_mean(x, mask, denom=None):
    """Σ x·m / Σ m (or / denom): the verl / OpenRLHF style, NaN-unsafe at padded positions."""
    m = mask.to(x.dtype)
    return (x * m).sum() / (m.sum() if denom is None else denom)


def zero_padding(x, mask):
    return torch.where(mask.bool(), x, torch.zeros_like(x))
