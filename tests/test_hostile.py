"""Hostile inputs to the public API of the core: only the documented exceptions come out.

Every public function of losses_np, losses_torch, aggregation, advantages, divergences, methods
and the symbolic entry points is driven with wrong types, wrong and mismatched shapes, NaN, ±inf,
huge values, empty arrays, bad parameters and unknown names. Each call must either return or raise
``ValueError`` / ``TypeError`` (docs/design.md#conventions); any other exception is a finding. A second
group checks the contract on masked positions: whatever they hold (NaN, ±inf, huge), the loss and
its gradient stay finite and the masked gradient is exactly 0.
"""
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from drpo_analysis.core import advantages, aggregation, divergences, losses_np, losses_torch, methods

from strategies_util import random_inputs

DOCUMENTED = (ValueError, TypeError)
NAMES = methods.names()

# --- hostile building blocks -----------------------------------------------------------------
nasty_floats = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, -1e-300, 1e308, -1e308, math.inf, -math.inf,
                                math.nan, 5e-324, -700.0, 1e4])
shapes = st.sampled_from([(), (0,), (1,), (3,), (2, 3), (3, 2), (1, 3, 1), (0, 3)])
numeric_dtypes = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8, np.bool_,
                                  np.complex128, np.uint8])


def _cast(v, dtype):
    with np.errstate(over="ignore"):   # 1e308 → inf in float16/float32 is part of the hostility
        return np.asarray(v).astype(dtype).item()


@st.composite
def nasty_arrays(draw, shape=None, dtype=None):
    shape = draw(shapes) if shape is None else shape
    dtype = draw(numeric_dtypes) if dtype is None else dtype
    if np.dtype(dtype).kind == "f":
        elements = nasty_floats.map(lambda v: _cast(v, dtype))
        return draw(hnp.arrays(dtype, shape, elements=elements))
    return draw(hnp.arrays(dtype, shape))


garbage = st.one_of(st.none(), st.text(max_size=3), st.integers(-3, 3), nasty_floats,
                    st.lists(nasty_floats, max_size=3), st.lists(st.text(max_size=1), min_size=1, max_size=2),
                    st.dictionaries(st.text(max_size=2), nasty_floats, max_size=2), st.builds(object),
                    st.just([[1.0, 2.0], [3.0]]))
anything = st.one_of(garbage, nasty_arrays())
method_names = st.one_of(st.sampled_from(NAMES), st.sampled_from(["DRPO", "", "ppo", "drpo "]), garbage)


@st.composite
def log_probs(draw, shape):
    """Mostly valid log-probabilities of ``shape`` with hostile entries mixed in."""
    a = draw(hnp.arrays(np.float64, shape, elements=st.one_of(
        st.floats(-30.0, 0.0), nasty_floats, st.just(-math.inf))))
    return a


def params_for(name):
    m = methods.get(name) if name in NAMES else None
    good = [p.name for p in m.params] if m else ["delta"]
    return st.one_of(st.none(), st.just({}), garbage,
                     st.dictionaries(st.sampled_from(good + ["bogus", "Delta"]),
                                     st.one_of(nasty_floats, garbage), max_size=2))


def call(fn, *args, **kwargs):
    """Run ``fn``; only ValueError / TypeError may escape (others fail the test with context)."""
    try:
        return fn(*args, **kwargs)
    except DOCUMENTED:
        return None


@st.composite
def np_call_args(draw):
    name = draw(method_names)
    shape = draw(shapes)
    mode = draw(st.sampled_from(["valid", "nasty", "mixed"]))
    if mode == "valid" and isinstance(name, str) and name in NAMES:
        n = draw(st.integers(0, 5))
        ell, ell_mu, adv, extras = random_inputs(name, np.random.default_rng(n), n=n)
        if draw(st.booleans()):
            ell[: n // 2] = draw(st.sampled_from([-math.inf, -1e308, 0.0]))
    elif mode == "nasty":
        ell, ell_mu, adv = draw(anything), draw(anything), draw(anything)
        extras = draw(st.one_of(st.none(), garbage, st.dictionaries(
            st.sampled_from(["topk_logp_mu", "topk_logp", "seq_log_ratio", "seq_len", "bogus"]),
            anything, max_size=3)))
    else:
        ell, ell_mu = draw(log_probs(shape)), draw(log_probs(draw(st.sampled_from([shape, (2,), ()]))))
        adv = draw(hnp.arrays(np.float64, shape, elements=nasty_floats))
        extras = None
    return name, ell, ell_mu, adv, extras, draw(params_for(name if isinstance(name, str) else ""))


# --- numpy face -------------------------------------------------------------------------------
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(np_call_args(), st.sampled_from(["objective", "gradient", "gradient_weight"]))
def test_losses_np_raises_only_documented(args, fn_name):
    name, ell, ell_mu, adv, extras, params = args
    with np.errstate(all="raise", under="ignore"):  # a trap escaping the kernels' errstate shows
        call(getattr(losses_np, fn_name), name, ell, ell_mu, adv, params=params, extras=extras)


@settings(max_examples=150, deadline=None)
@given(method_names, st.one_of(st.none(), garbage, st.dictionaries(st.text(max_size=6), nasty_floats, max_size=3)))
def test_registry_lookup_and_params(name, params):
    m = call(methods.get, name)
    if m is not None:
        out = call(m.resolve_params, params)
        if out is not None:  # accepted: every value is a finite float inside the documented interval
            assert set(out) == {p.name for p in m.params}
            assert all(math.isfinite(v) for v in out.values())


@pytest.mark.parametrize("bad", [{"delta": 0.0}, {"delta": -1.0}, {"delta": math.nan}, {"delta": "0.2"},
                                 {"delta": True}, {"dleta": 0.2}, [("delta", 0.2)], "delta=0.2"])
def test_bad_drpo_params_name_the_argument(bad):
    with pytest.raises(DOCUMENTED, match="delta|dleta|params"):
        losses_np.gradient_weight("drpo", -1.0, -1.0, 1.0, params=bad)


@pytest.mark.parametrize("fn", [losses_np.objective, losses_np.gradient, losses_np.gradient_weight])
def test_messages_name_argument_and_range(fn):
    with pytest.raises(ValueError, match=r"ell_mu must be <= 0"):
        fn("drpo", [-1.0], [0.5], [1.0])
    with pytest.raises(ValueError, match=r"ell contains NaN"):
        fn("drpo", [math.nan], [-1.0], [1.0])
    with pytest.raises(ValueError, match=r"adv must be finite"):
        fn("drpo", [-1.0], [-1.0], [math.inf])
    with pytest.raises(ValueError, match=r"shape mismatch"):
        fn("drpo", [-1.0, -2.0], [-1.0], [1.0])
    with pytest.raises(ValueError, match=r"unknown method 'DRPO'"):
        fn("DRPO", [-1.0], [-1.0], [1.0])
    with pytest.raises(ValueError, match=r"needs extra input"):
        fn("gspo_seq", [-1.0], [-1.0], [1.0])
    with pytest.raises(TypeError, match=r"adv must"):
        fn("drpo", [-1.0], [-1.0], "1.0")


def test_empty_batch_returns_empty():
    for fn in (losses_np.objective, losses_np.gradient, losses_np.gradient_weight):
        assert fn("drpo", np.zeros(0), np.zeros(0), np.zeros(0)).shape == (0,)


# --- torch face -------------------------------------------------------------------------------
torch_dtypes = st.sampled_from([torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int64])


@st.composite
def tensors(draw, shape, dtype=None):
    a = draw(hnp.arrays(np.float64, shape, elements=st.one_of(st.floats(-20.0, 0.0), nasty_floats)))
    dt = draw(torch_dtypes) if dtype is None else dtype
    return torch.tensor(a).to(dt)


@st.composite
def torch_call_args(draw):
    name = draw(method_names)
    shape = draw(st.sampled_from([(0, 3), (1, 1), (2, 3)]))
    other = draw(st.sampled_from([shape, shape, (3, 2), (2,)]))
    logp, logp_mu, adv = draw(tensors(shape)), draw(tensors(other)), draw(tensors(shape))
    mask = draw(st.one_of(st.none(), st.builds(lambda a: torch.tensor(a), hnp.arrays(np.bool_, shape)),
                          st.builds(lambda a: torch.tensor(a), hnp.arrays(np.float32, shape)),
                          garbage, nasty_arrays(shape=shape)))
    if draw(st.booleans()):
        logp, logp_mu, adv = (draw(st.one_of(garbage, nasty_arrays(), st.just(t))) for t in (logp, logp_mu, adv))
    extras = draw(st.one_of(st.none(), garbage, st.dictionaries(
        st.sampled_from(["topk_logp_mu", "topk_logp", "seq_log_ratio", "seq_len"]),
        st.one_of(tensors(shape), tensors(shape + (2,)), garbage), max_size=2)))
    return name, logp, logp_mu, adv, mask, extras, draw(params_for(name if isinstance(name, str) else ""))


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(torch_call_args(), st.sampled_from(list(aggregation.MODES) + ["mean", None]),
       st.dictionaries(st.sampled_from(["num_tokens", "num_seqs", "horizon", "group_ids", "bogus"]),
                       st.one_of(nasty_floats, garbage, st.just(torch.tensor([0, 1]))), max_size=2))
def test_losses_torch_raises_only_documented(args, agg, agg_kwargs):
    name, logp, logp_mu, adv, mask, extras, params = args
    out = call(losses_torch.per_token_loss, name, logp, logp_mu, adv, mask=mask, params=params, extras=extras)
    if out is not None:
        assert out.shape == logp.shape
    call(losses_torch.policy_loss, name, logp, logp_mu, adv, mask, agg=agg, params=params, extras=extras,
         **agg_kwargs)
    call(losses_torch.sequence_log_ratio, logp, logp_mu, mask)


@st.composite
def masked_batches(draw):
    """Valid unmasked tokens; masked positions hold anything at all (NaN, ±inf, huge)."""
    name = draw(st.sampled_from(NAMES))
    B, T = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    ell, ell_mu, adv, extras = random_inputs(name, np.random.default_rng(draw(st.integers(0, 99))), n=B * T)
    mask = draw(hnp.arrays(np.bool_, (B, T)))
    junk = lambda: draw(hnp.arrays(np.float64, (B, T), elements=nasty_floats))  # noqa: E731
    pick = lambda good, bad: np.where(mask, good.reshape(B, T), bad)  # noqa: E731
    ex = {}
    for k, v in extras.items():
        v = v.reshape(B, T, *v.shape[1:])
        bad = junk() if v.ndim == 2 else np.repeat(junk()[..., None], v.shape[-1], -1)
        ex[k] = torch.tensor(np.where(mask.reshape(B, T, *([1] * (v.ndim - 2))), v, bad))
    return name, pick(ell, junk()), pick(ell_mu, junk()), pick(adv, junk()), mask, ex


@settings(max_examples=120, deadline=None)
@given(masked_batches(), st.sampled_from([torch.float64, torch.float32, torch.bfloat16]),
       st.sampled_from(["token-mean", "seq-mean-token-mean", "prompt-mean"]))
def test_masked_positions_never_leak(batch, dtype, agg):
    name, ell, ell_mu, adv, mask, extras = batch
    logp = torch.tensor(ell).to(dtype).requires_grad_(True)
    kwargs = {"group_ids": np.arange(mask.shape[0]) // 2} if agg == "prompt-mean" else {}
    loss = losses_torch.policy_loss(name, logp, torch.tensor(ell_mu).to(dtype), torch.tensor(adv).to(dtype),
                                    torch.tensor(mask), agg=agg, extras=extras, **kwargs)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logp.grad).all()
    assert (logp.grad[~torch.tensor(mask)] == 0).all()


# --- aggregation, advantages, divergences ----------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.one_of(anything, nasty_arrays(shape=(2, 3)), hnp.arrays(np.bool_, (2, 3))),
       st.one_of(st.sampled_from(aggregation.MODES), garbage),
       st.dictionaries(st.sampled_from(["num_tokens", "num_seqs", "horizon", "group_ids", "bogus"]),
                       st.one_of(nasty_floats, garbage, nasty_arrays()), max_size=3),
       st.booleans())
def test_aggregation_raises_only_documented(mask, mode, kwargs, as_torch):
    if as_torch and isinstance(mask, np.ndarray) and mask.dtype.kind in "fb":
        mask = torch.tensor(mask)
    call(aggregation.aggregation_weights, mask, mode, **kwargs)
    values = torch.zeros(2, 3) if as_torch else np.zeros((2, 3))
    call(aggregation.aggregate, values, mask, mode, **kwargs)


@settings(max_examples=150, deadline=None)
@given(st.one_of(anything, hnp.arrays(np.float64, st.sampled_from([(1, 1), (2, 3), (3, 1), (0, 2)]),
                                     elements=st.one_of(nasty_floats, st.floats(-1e200, 1e200)))),
       st.one_of(st.booleans(), garbage), st.one_of(nasty_floats, garbage),
       st.one_of(st.integers(-1, 2), garbage))
def test_group_advantages_raises_only_documented(rewards, std_normalize, eps, ddof):
    out = call(advantages.group_advantages, rewards, std_normalize=std_normalize, eps=eps, ddof=ddof)
    if out is not None:
        assert np.isfinite(out).all()


@settings(max_examples=150, deadline=None)
@given(anything, anything, st.one_of(st.sampled_from(["tv", "kl"]), garbage))
def test_divergences_raise_only_documented(a, b, kind):
    with np.errstate(all="ignore"):
        call(divergences.topk_divergence, a, b, kind)
        call(divergences.binary_tv, a, b)
        call(divergences.binary_kl, a, b)


@pytest.mark.parametrize("fn", [divergences.binary_tv, divergences.binary_kl])
def test_binary_divergences_reject_non_probabilities(fn):
    with pytest.raises(ValueError, match=r"mu must be >= 0"):
        fn(np.array([-0.1]), np.array([0.5]))
    with pytest.raises(ValueError, match=r"pi must be <= 1"):
        fn(np.array([0.1]), np.array([1.5]))
    with pytest.raises(ValueError, match="shape mismatch"):
        fn(np.array([0.1, 0.2]), np.array([0.5]))


def test_topk_divergence_rejects_mismatch_and_unknown_kind():
    with pytest.raises(ValueError, match="shape mismatch"):
        divergences.topk_divergence(np.log(np.full((2, 3), 0.2)), np.log(np.full((2, 4), 0.2)), "tv")
    with pytest.raises(ValueError, match="kind"):
        divergences.topk_divergence(np.log(np.full((2, 3), 0.2)), np.log(np.full((2, 3), 0.2)), "js")


# --- symbolic entry points ---------------------------------------------------------------------
SYMBOLIC_NAMES = ["drpo", "ppo_clip", "DRPO", "", None, 3, ["drpo"]]
SYMBOLIC_PARAMS = [(), (("delta", 0.2),), (("bogus", 1.0),), (("delta", -1.0),), (("delta", "x"),),
                   "x", ((1, 2, 3),), None, 5]


@pytest.mark.parametrize("name", SYMBOLIC_NAMES)
def test_symbolic_entry_points_raise_only_documented(name):
    from drpo_analysis.core import symbolic
    for fn in (symbolic.objective, symbolic.gradient, symbolic.weight):
        call(fn, name)
    for params in SYMBOLIC_PARAMS:
        call(symbolic.compiled, name, params)
        call(symbolic.weight_kernel, name, params)


@pytest.mark.parametrize("params", [(("bogus", 1.0),), (("delta", -1.0),), (("delta", 0.0),), "x"])
def test_symbolic_kernels_validate_params(params):
    from drpo_analysis.core import symbolic
    for fn in (symbolic.compiled, symbolic.weight_kernel):
        with pytest.raises(DOCUMENTED, match="params|delta|bogus"):
            fn("drpo", params)


@pytest.mark.parametrize("extras", [[1.0], "topk", 3])
def test_extras_must_be_a_mapping(extras):
    with pytest.raises(TypeError, match="extras must be a mapping"):
        losses_np.gradient_weight("gspo_token", [-1.0], [-1.0], [1.0], extras=extras)
    with pytest.raises(TypeError, match="extras must be a mapping"):
        losses_torch.per_token_loss("gspo_token", torch.tensor([-1.0]), torch.tensor([-1.0]), torch.tensor([1.0]),
                                    extras=extras)


def test_topk_sets_must_have_the_same_k():
    ex = {"topk_logp_mu": np.log(np.full((2, 3), 0.2)), "topk_logp": np.log(np.full((2, 4), 0.2))}
    with pytest.raises(ValueError, match="same K tokens"):
        losses_np.gradient_weight("dppo_topk_tv", [-1.0, -1.0], [-1.0, -1.0], [1.0, 1.0], extras=ex)
