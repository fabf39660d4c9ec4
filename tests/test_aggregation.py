"""Loss aggregation modes (docs/methods.md#aggregation-modes): hand-computed
values for every mode, micro-batch splits with global counts, empty batches, numpy = torch."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from drpo_analysis.core import aggregation

# B = 2 sequences, T = 3; row 0 has 2 valid tokens, row 1 has 1. Masked cells hold junk.
MASK = np.array([[1, 1, 0], [1, 0, 0]], dtype=bool)
VALUES = np.array([[1.0, 2.0, math.nan], [4.0, math.inf, -math.inf]])
HAND = {  # Σ over valid tokens = 7, N = 3 tokens, B = 2, L_const = 4
    ("token-sum", ()): 7.0,
    ("token-mean", ()): 7.0 / 3,
    ("seq-mean-token-mean", ()): ((1 + 2) / 2 + 4 / 1) / 2,        # 2.75
    ("seq-mean-token-sum", ()): ((1 + 2) + 4) / 2,                 # 3.5
    ("seq-mean-token-sum-norm", (("horizon", 4),)): 7 / (2 * 4),   # 0.875
    ("prompt-mean", (("group_ids", (0, 1)),)): (1.5 + 4.0) / 2,    # two groups: their token-means
    ("prompt-mean", (("group_ids", (5, 5)),)): 7.0 / 3,            # one group: token-mean
}


def test_every_mode_has_a_hand_example():
    assert {mode for mode, _ in HAND} == set(aggregation.MODES)


@pytest.mark.parametrize("mode,kwargs", list(HAND))
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_hand_computed(mode, kwargs, backend):
    kw = {k: (np.array(v) if k == "group_ids" else v) for k, v in kwargs}
    values, mask = VALUES, MASK
    if backend == "torch":
        values, mask = torch.tensor(VALUES), torch.tensor(MASK)
    got = float(aggregation.aggregate(values, mask, mode, **kw))
    assert got == pytest.approx(HAND[(mode, kwargs)], rel=1e-15)


def _global_kwargs(mode, mask, group_ids):
    """The whole optimiser step's counts, as every micro-batch must receive them."""
    return {"token-mean": {"num_tokens": int(mask.sum())},
            "token-sum": {},
            "seq-mean-token-mean": {"num_seqs": mask.shape[0]},
            "seq-mean-token-sum": {"num_seqs": mask.shape[0]},
            "seq-mean-token-sum-norm": {"num_seqs": mask.shape[0], "horizon": mask.shape[1]},
            "prompt-mean": {"num_groups": len(np.unique(group_ids))}}[mode]


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4).flatmap(lambda g: st.tuples(
           hnp.arrays(np.bool_, (2 * g, 5)),
           hnp.arrays(np.float64, (2 * g, 5), elements=st.floats(-10, 10)))),
       st.sampled_from(aggregation.MODES), st.integers(1, 3))
def test_microbatch_split_with_global_counts_equals_whole_batch(data, mode, n_micro):
    mask, values = data
    group_ids = np.arange(mask.shape[0]) // 2          # prompt groups of 2 rows, kept whole
    kw = _global_kwargs(mode, mask, group_ids)
    whole = aggregation.aggregate(values, mask, mode, **kw,
                                  **({"group_ids": group_ids} if mode == "prompt-mean" else {}))
    groups = np.array_split(np.unique(group_ids), n_micro)
    parts = 0.0
    for g in groups:
        rows = np.isin(group_ids, g)
        if not rows.any():
            continue
        parts += aggregation.aggregate(values[rows], mask[rows], mode, **kw,
                                       **({"group_ids": group_ids[rows]} if mode == "prompt-mean" else {}))
    assert parts == pytest.approx(whole, rel=1e-12, abs=1e-12)


def test_local_counts_give_the_mean_of_means_bug():
    """Without the global N, token-mean over micro-batches is a mean of means (bug
    class "wrong normaliser", docs/methods.md#bug-classes): here 1/2·(3/2 + 4/1) = 2.75 instead of 7/3."""
    local = sum(aggregation.aggregate(VALUES[i:i + 1], MASK[i:i + 1], "token-mean") for i in range(2)) / 2
    assert local == pytest.approx(2.75) and local != pytest.approx(7 / 3)


@pytest.mark.parametrize("mode", aggregation.MODES)
def test_empty_batch_gives_zero_not_nan(mode):
    kw = {"horizon": 3, "group_ids": np.array([0, 1])}
    empty = np.zeros((2, 3), dtype=bool)
    values = torch.full((2, 3), math.nan, requires_grad=True)
    loss = aggregation.aggregate(values, torch.tensor(empty), mode, **kw)
    loss.backward()
    assert loss.item() == 0.0 and (values.grad == 0).all()
    assert aggregation.aggregate(np.full((2, 3), math.inf), empty, mode, **kw) == 0.0
    assert aggregation.aggregate(np.zeros((0, 3)), np.zeros((0, 3), dtype=bool), mode,
                                 **{**kw, "group_ids": np.zeros(0, dtype=int)}) == 0.0


def test_weights_are_linear_and_match_aggregate():
    rng = np.random.default_rng(0)
    mask = rng.random((4, 6)) < 0.7
    values = rng.normal(size=(4, 6))
    for mode in aggregation.MODES:
        kw = {"horizon": 6, "group_ids": np.array([0, 0, 1, 1])}
        a = aggregation.aggregation_weights(mask, mode, **kw)
        assert aggregation.aggregate(values, mask, mode, **kw) == pytest.approx((a * values).sum())


@pytest.mark.parametrize("bad,match", [
    (dict(mode="mean"), "unknown mode"),
    (dict(mode="seq-mean-token-sum-norm"), "horizon"),
    (dict(mode="prompt-mean"), "group_ids"),
    (dict(mode="prompt-mean", group_ids=np.array([0])), r"group_ids must have shape \[2\]"),
    (dict(mode="token-mean", num_tokens=-1), "num_tokens"),
    (dict(mode="seq-mean-token-sum", num_seqs=0), "num_seqs"),
])
def test_bad_arguments_name_themselves(bad, match):
    mode = bad.pop("mode")
    with pytest.raises((ValueError, TypeError), match=match):
        aggregation.aggregate(np.zeros((2, 3)), MASK, mode, **bad)


def test_mask_must_be_boolean_like():
    with pytest.raises(ValueError, match="only 0 and 1"):
        aggregation.aggregation_weights(np.full((2, 3), 0.5), "token-mean")
    with pytest.raises(TypeError, match="mask"):
        aggregation.aggregation_weights([[1, 0]], "token-mean")
    with pytest.raises(TypeError, match="both be numpy arrays or both torch"):
        aggregation.aggregate(torch.zeros(2, 3), MASK, "token-sum")
