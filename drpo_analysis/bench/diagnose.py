"""Benchmarks of ``diagnose`` and of real-model scoring (group ``diagnose``).

* ``diagnose_10m``: ``diagnose`` of a 10M-token ``.npz`` (32,768 responses × 512 positions, fp8-like
  mismatch, with top-K columns, K = 4) with every registry method and rollout correction, against
  the time to read the same columns through the same streaming reader (ratio = read / diagnose);
  the detail gives the absolute time against the 60 s target.
* ``diagnose_rss``: peak resident memory of a child process running ``diagnose`` on that file,
  against a 1 GB budget; the 1M-token file's peak is in the detail (bounded: it must not grow
  with the file).
* ``lm_scoring``: the fp32 scoring pass of one batch against a plain ``model(ids, attention_mask)``
  forward pass of the same (left-padded) batch (ratio = forward / scoring, target ≥ 1: at least as fast);
* ``lm_exact_divergences``: exact TV/KL/KL over the full vocabulary plus the top-K ids of the same
  batch against that forward pass (target ≥ 1: at most one more pass).
"""
from __future__ import annotations

import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from drpo_analysis.bench import timing as bench

T = 512
K = 4
ROWS = 1024


def write_synthetic(path: Path, tokens: int, seed: int = 0, *, distinct: int = 2) -> Path:
    """A rollout file of about ``tokens`` response tokens: lengths are uniform on [T/4, T], 5/8 of
    the positions on average, so ``tokens / (5/8 · 512)`` responses; written member by
    member in blocks of 1,024 responses; ``distinct`` different blocks are generated and repeated
    (generation, not the file, is the slow part; the diagnosis does not cache anything)."""
    import zipfile
    B = max(1, round(tokens / (0.625 * T)))
    cols = {"old_log_probs": np.float32, "rollout_log_probs": np.float32, "response_mask": np.int8,
            "advantages": np.float32, "responses": np.int32, "rollout_topk_ids": np.int32,
            "rollout_topk_log_probs": np.float32, "old_topk_log_probs": np.float32}
    blocks = [_block(min(ROWS, B), seed * 7919 + i) for i in range(min(distinct, -(-B // ROWS)))]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for c, dt in cols.items():
            shape = (B, T, K) if "topk" in c else (B, T)
            with zf.open(f"{c}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array_header_1_0(fh, {"descr": np.lib.format.dtype_to_descr(np.dtype(dt)),
                                                          "fortran_order": False, "shape": shape})
                for j, b0 in enumerate(range(0, B, ROWS)):
                    fh.write(np.ascontiguousarray(blocks[j % len(blocks)][c][:min(ROWS, B - b0)], dtype=dt).tobytes())
    return path


def _block(b: int, seed: int) -> dict[str, np.ndarray]:
    """Every column of ``b`` responses: top-K(μ) from Dirichlet(0.3) masses, the sampled token one
    of them, log π = log μ + N(0, 0.05²) with 1 % outliers N(0, 0.5²) (reflected below 0)."""
    rng = np.random.default_rng(seed)
    top = np.sort(rng.dirichlet(np.full(K + 1, 0.3), size=(b, T)), -1)[..., ::-1][..., :K]      # [b, T, K]
    pick = rng.integers(0, K, size=(b, T))
    lmu = np.log(np.take_along_axis(top, pick[..., None], -1)[..., 0].clip(1e-8, 1))
    noise = rng.normal(0, 0.05, size=(b, T)) + rng.normal(0, 0.5, size=(b, T)) * (rng.random((b, T)) < 0.01)
    lpi = lmu + noise
    lpi = np.where(lpi > 0, lmu - np.abs(noise), lpi)
    mask = np.arange(T)[None, :] < rng.integers(T // 4, T + 1, size=b)[:, None]
    ids = np.argsort(rng.random((b, T, K)), -1)
    d = rng.normal(0, 0.05, size=top.shape)
    ltop = np.log(top)
    return {"old_log_probs": np.where(mask, lpi, 0.0), "rollout_log_probs": np.where(mask, lmu, 0.0),
            "response_mask": mask, "advantages": rng.normal(size=(b, 1)) * mask,
            "responses": np.take_along_axis(ids, pick[..., None], -1)[..., 0], "rollout_topk_ids": ids,
            "rollout_topk_log_probs": ltop, "old_topk_log_probs": np.where(ltop + d > 0, ltop - np.abs(d), ltop + d)}


def _read_only(path):
    from drpo_analysis.diagnose import io
    n = 0
    for block in io.iter_chunks(path):
        n += int(block["response_mask"].sum())
    return n


def _child(path, q):
    from drpo_analysis.diagnose import run
    t0 = time.perf_counter()
    out = run.diagnose([path])
    q.put((time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, out["tokens"]))


def _diagnose_in_child(path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(str(path), q))
    p.start()
    res = q.get()
    p.join()
    return res


@bench.benchmark("diagnose_10m", group="diagnose")
def diagnose_10m(*, quick: bool = False) -> list[bench.Measurement]:
    tokens = (1 << 20) if quick else 10 * (1 << 20)
    with tempfile.TemporaryDirectory() as d:
        small = write_synthetic(Path(d) / "small.npz", 1 << 20)
        big = small if quick else write_synthetic(Path(d) / "big.npz", tokens)
        t_read = bench.best_time(lambda: _read_only(big), repeat=1)
        t, rss, n = _diagnose_in_child(big)
        _, rss_small, n_small = _diagnose_in_child(small)
    return [
        bench.measure("diagnose_10m", t, "s", t_read, ">= 0.02", higher_is_better=False,
                      detail=f"{n} tokens, every method + correction, top-K K={K}; reading the same "
                             f"columns takes {t_read:.1f} s; target 60 s, took {t:.1f} s"),
        bench.measure("diagnose_rss", rss, "MB", 1024.0, ">= 1.0", higher_is_better=False,
                      detail=f"peak RSS of the diagnose process; {n_small} tokens: {rss_small:.0f} MB"),
    ]


@bench.benchmark("lm_scoring", group="diagnose")
def lm_scoring(*, quick: bool = False) -> list[bench.Measurement]:
    import torch
    from drpo_analysis.lm import loading, scoring, tasks
    if not loading.available():
        return [bench.measure("lm_scoring", None, "s", None, ">= 1.0", detail="model not installed (make lm)")]
    lm = loading.load()
    B, Tn = (2, 16) if quick else (8, 64)
    ids, attn = scoring.encode_prompts(lm.tokenizer, [t.prompt for t in tasks.make_tasks(B, seed=0)])
    resp = torch.randint(0, loading.VOCAB_SIZE, (B, Tn), generator=torch.Generator().manual_seed(0))
    full = torch.cat([ids, resp], 1)
    full_attn = torch.cat([attn, torch.ones_like(resp)], 1)   # left-padded prompts need their mask
    lmu = scoring.score(lm.model, ids, attn, resp, 1.0)     # stands in for the sampler's log μ [B, T, V]
    V = lmu.shape[-1]
    lpi = lmu.clone()

    def forward():
        with torch.no_grad():
            lm.model(input_ids=full, attention_mask=full_attn)

    def divergences():
        scoring.exact_divergences(lmu.reshape(-1, V), lpi.reshape(-1, V))
        torch.topk(lmu, 20, dim=-1)

    # CPU time of this thread measures all the work only when torch runs single-threaded
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t_fwd = bench.best_time(forward, repeat=2, clock=time.thread_time)
        t_score = bench.best_time(lambda: scoring.score(lm.model, ids, attn, resp, 1.0), repeat=2, clock=time.thread_time)
        t_div = bench.best_time(divergences, repeat=2, clock=time.thread_time)
    finally:
        torch.set_num_threads(threads)
    shape = f"batch {B} x ({ids.shape[1]} prompt + {Tn} response) tokens, CPU time, one thread"
    return [bench.measure("lm_scoring", t_score, "s", t_fwd, ">= 1.0", higher_is_better=False,
                          detail=f"the fp32 scoring pass (log π of the response positions) against a plain "
                                 f"model(ids, attention_mask) forward of the same left-padded batch "
                                 f"({t_fwd:.2f} s); {shape}"),
            bench.measure("lm_exact_divergences", t_div, "s", t_fwd, ">= 1.0", higher_is_better=False,
                          detail=f"exact TV/KL(μ‖π)/KL(π‖μ) over V={V} + top-20 ids against one plain forward "
                                 f"pass (target: at most one more pass); {shape}")]
