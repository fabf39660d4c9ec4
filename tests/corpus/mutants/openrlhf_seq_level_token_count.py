"""MUTANT of correct/openrlhf_class.py — sequence-level loss divided by the token count.

An OpenRLHF-style PolicyLoss module (token-level or sequence-level loss, optional dual clip).
Documented design choice: ℓ − ℓ_old clamped to ±20."""
import torch

FUZZ = {"fn": "MyPolicyLoss", "method": "dual_clip", "args": ["--option", "log_ratio_clamp=20"], "bug": 'sequence-level loss divided by the token count'}


class MyPolicyLoss(torch.nn.Module):
    def __init__(self, clip_eps_low=0.2, clip_eps_high=0.2, dual_clip=None, token_level_loss=True):
        super().__init__()
        self.clip_eps_low, self.clip_eps_high = clip_eps_low, clip_eps_high
        self.dual_clip, self.token_level_loss = dual_clip, token_level_loss

    def forward(self, log_probs, old_log_probs, advantages, action_mask=None, dp_size=1, batch_num_tokens=None,
                global_batch_size=None):
        ratio = (log_probs - old_log_probs).clamp(min=-20.0, max=20.0).exp()
        surr1 = ratio * advantages
        surr2 = ratio.clamp(1 - self.clip_eps_low, 1 + self.clip_eps_high) * advantages
        loss = -torch.min(surr1, surr2)
        if self.dual_clip is not None:
            loss = torch.where(advantages < 0, torch.min(loss, -self.dual_clip * advantages), loss)
        loss = torch.where(action_mask.bool(), loss, torch.zeros_like(loss))
        if self.token_level_loss:
            n = batch_num_tokens if batch_num_tokens is not None else action_mask.sum().clamp(min=1)
            return loss.sum() / n * dp_size, ratio.detach()
        per_seq = loss.sum(-1) / action_mask.sum().clamp(min=1)
        n = global_batch_size if global_batch_size is not None else (action_mask.sum(-1) > 0).sum().clamp(min=1)
        return per_seq.sum() / n * dp_size, ratio.detach()
