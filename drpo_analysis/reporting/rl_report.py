"""paper_repro/REPORT.md: per claim (docs/claims.md#rl-report-claims), the experiment, numbers with 95% bootstrap
intervals over seeds (``scipy.stats.bootstrap``, percentile), the figure and a verdict decided by a
rule stated next to it (never by hand).

Per-run scalars (from the run summaries of :mod:`drpo_analysis.rl.matrix`):

* ``auc``: mean training reward over all iterations (area under the reward curve / steps);
* ``tail_reward``: mean training reward over the last quarter of iterations;
* ``late_shift`` / ``late_max_shift``: mean over the last quarter of the per-step mean / max
  ``|π − μ|`` of sampled tokens (μ = the rollout's);
* ``final_greedy``: held-out greedy accuracy after the last iteration.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import stats

from drpo_analysis.rl.experiments import choose_regime
from drpo_analysis.rl.matrix import load_results
from drpo_analysis.core.methods import DPPO_TV_DELTA
from drpo_analysis.util import io
from drpo_analysis.util.stats import bootstrap_ci

GROUPS = ("sweep", "main", "ablation", "delta", "anchor")
LOW_BUCKETS = ("0-0.001", "0.001-0.01", "0.01-0.1")
TOP_BUCKET = "0.5-1"
MARGIN = 0.03  # reward units: differences within ±MARGIN count as "as good as" / "close"
# claim 6's δ settings (run labels): DPPO-TV δ and DRPO δ, the papers' 0.15 / 0.2 and 12.5 included
DPPO_DELTA_LABELS = ("dppo_binary_tv (delta=0.05)", "dppo_binary_tv", "dppo_binary_tv (delta=0.2)",
                     "dppo_binary_tv (delta=0.4)")
DRPO_DELTA_LABELS = ("drpo (delta=0.15)", "drpo (delta=1)", "drpo", "drpo (delta=50)")


def _quarter_mean(vals, last=True):
    v = [x for x in vals if x is not None]
    if not v:
        return float("nan")
    q = max(1, len(v) // 4)
    return float(np.mean(v[-q:] if last else v[:q]))


def scalars(run: dict) -> dict:
    c = run["curves"]
    return {"auc": float(np.mean(c["reward/mean"])), "tail_reward": _quarter_mean(c["reward/mean"]),
            "head_reward": _quarter_mean(c["reward/mean"], last=False),
            "late_shift": _quarter_mean(c["shift/mean_abs"]), "early_shift": _quarter_mean(c["shift/mean_abs"], False),
            "late_max_shift": _quarter_mean(c["shift/max_abs"]),
            "final_greedy": run["eval"]["greedy_acc"][-1], "final_sampled": run["eval"]["sampled_acc"][-1],
            "masked": _quarter_mean(c["frac/masked"]), "diverged": run["status"] == "diverged"}


def label(run: dict) -> str:
    from drpo_analysis.core import methods

    cfg = run["config"]
    m = methods.get(cfg["method"])
    changed = {k: v for k, v in cfg["params"].items() if any(p.name == k and p.default != v for p in m.params)}
    if {"delta_low", "delta_high"} <= set(changed) and changed["delta_low"] == changed["delta_high"]:
        changed = {"delta": changed["delta_low"]}
    anchor = " [anchor π_old]" if cfg.get("anchor") == "old" else ""
    return cfg["method"] + (" (" + ", ".join(f"{k}={v:g}" for k, v in changed.items()) + ")" if changed else "") + anchor


def by_label(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in sorted(runs, key=lambda r: r["config"]["seed"]):
        out.setdefault(label(r), []).append(r)
    return out


def ci(x) -> tuple[float, float, float]:
    m, lo, hi = bootstrap_ci(np.asarray(x, float), axis=0)
    return float(m), float(lo), float(hi)


def paired_diff(a: list[dict], b: list[dict], key: str) -> tuple[float, float, float]:
    """Mean over the seeds both configurations ran (same seed = same prompt stream) of
    ``scalars(a)[key] − scalars(b)[key]``, with its bootstrap CI."""
    va = {r["config"]["seed"]: scalars(r)[key] for r in a}
    vb = {r["config"]["seed"]: scalars(r)[key] for r in b}
    common = sorted(set(va) & set(vb))
    if not common:
        return float("nan"), float("nan"), float("nan")
    return ci([va[s] - vb[s] for s in common])


def spread_ci(samples: list) -> tuple[float, float, float]:
    """max − min of the group means over k settings, with a bootstrap CI (settings resampled
    independently)."""
    samples = [np.asarray(s, float) for s in samples]
    stat = lambda *xs: max(map(np.mean, xs)) - min(map(np.mean, xs))  # noqa: E731
    r = stats.bootstrap(samples, stat, vectorized=False, paired=False, method="percentile",
                        n_resamples=2000, random_state=np.random.default_rng(0))
    return float(stat(*samples)), float(r.confidence_interval.low), float(r.confidence_interval.high)


def fmt(t, digits=3) -> str:
    m, lo, hi = t
    return f"{m:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _col(runs, key):
    return [scalars(r)[key] for r in runs]


def _pooled_bucket(run, what: str, buckets) -> float:
    """Count-weighted mean of a bucket statistic over several μ buckets."""
    b = run["buckets"]
    num = den = 0.0
    for name in buckets:
        v, n = b.get(f"bucket/{name}/{what}/mean"), b.get(f"bucket/{name}/count") or 0
        if v is not None and n:
            num, den = num + v * n, den + n
    return num / den if den else float("nan")


# ---- the claims -----------------------------------------------------------------------------------
def claim1(g):
    rows, ok_pairs, bad_pairs = [], 0, 0
    for no in ("pg_is", "cispo"):
        for tr in ("dppo_binary_tv", "drpo"):
            if no not in g or tr not in g:
                continue
            ds = paired_diff(g[no], g[tr], "late_shift")
            dm = paired_diff(g[no], g[tr], "late_max_shift")
            dr = paired_diff(g[tr], g[no], "tail_reward")
            both = ds[1] > 0 and dr[1] > 0
            ok_pairs += both
            bad_pairs += ds[2] < 0 or dr[2] < 0
            rows.append(f"| {no} − {tr} | {fmt(ds, 4)} | {fmt(dm, 3)} | {fmt(dr)} |")
    n = len(rows)
    verdict = ("reproduced" if n and ok_pairs == n else "not reproduced" if n and ok_pairs == 0 and bad_pairs
               else "inconclusive")
    table = ["| pair (no trust region − trust region) | late mean \\|π−μ\\| diff | late max \\|π−μ\\| diff | "
             "tail reward diff (TR − none) |", "|---|---|---|---|", *rows]
    anchored = [lab for lab in g if lab.endswith("[anchor π_old]")]
    if anchored:  # descriptive: DPPO also reports that anchoring on a recomputed π_old (MiniRL) collapses
        table += ["", "Ratio anchored on the recomputed old policy (MiniRL; not part of the rule):", "",
                  "| run | seeds | tail reward | late mean \\|π−μ\\| | final greedy acc |", "|---|---|---|---|---|"]
        for lab in sorted(anchored) + [x for x in ("pg_is", "ppo_clip") if x in g]:
            table.append(f"| {lab} | {len(g[lab])} | {fmt(ci(_col(g[lab], 'tail_reward')))} | "
                         f"{fmt(ci(_col(g[lab], 'late_shift')), 4)} | {fmt(ci(_col(g[lab], 'final_greedy')))} |")
    rule = ("reproduced iff for every pair the late mean |π−μ| is higher without a trust region *and* the "
            "trust-region method's tail reward is higher (both CIs above 0); not reproduced iff no pair "
            "shows both and some CI lies on the wrong side of 0; otherwise inconclusive.")
    return verdict, table, rule


def claim2(g):
    a, b = g.get("drpo"), g.get("dppo_binary_tv")
    if not a or not b:
        return "inconclusive", ["(runs missing)"], ""
    auc = paired_diff(a, b, "auc")
    tail = paired_diff(a, b, "tail_reward")
    shift = paired_diff(a, b, "late_max_shift")
    verdict = ("reproduced" if auc[1] > -MARGIN and tail[1] > -MARGIN else
               "not reproduced" if auc[2] < 0 or tail[2] < 0 else "inconclusive")
    table = ["| DRPO − DPPO-TV | mean [95% CI] |", "|---|---|", f"| AUC of reward | {fmt(auc)} |",
             f"| tail reward | {fmt(tail)} |", f"| late max \\|π−μ\\| | {fmt(shift)} |"]
    rule = (f"reproduced iff the CI lower bounds of the AUC and tail-reward differences are above −{MARGIN} "
            "(DRPO not worse beyond the margin); not reproduced iff either CI lies below 0; else inconclusive.")
    return verdict, table, rule


CLAIM3_METHODS = ("ppo_clip", "spo", "dppo_binary_tv", "drpo")


def claim3_stats(g) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Claim 3's per-method statistics over seeds, each a (mean, 95% CI low, high): zero-weight
    share (``mask``), |Δ| (``shift``) and |r − 1| (``ratio``) of rare (``low_*``, μ < 0.1) and common
    (``top_*``, μ ≥ 0.5) sampled tokens, and the rare tokens' mean weight ``low_w``."""
    def stat(m, what, buckets):
        return ci([_pooled_bucket(r, what, buckets) for r in g[m]])
    out = {}
    for m in CLAIM3_METHODS:
        if m in g:
            out[m] = {f"{side}_{key}": stat(m, what, buckets)
                      for side, buckets in (("low", LOW_BUCKETS), ("top", (TOP_BUCKET,)))
                      for key, what in (("mask", "masked"), ("shift", "abs_shift"), ("ratio", "abs_ratio_minus_1"))}
            out[m]["low_w"] = stat(m, "weight", LOW_BUCKETS)
    return out


def claim3(g):
    rows, findings = [], {}
    for m, st in claim3_stats(g).items():
        findings[m] = (st["low_mask"], st["top_mask"], st["low_shift"], st["top_shift"])
        rows.append(f"| {m} | {fmt(st['low_mask'])} | {fmt(st['top_mask'])} | {fmt(st['low_ratio'])} | "
                    f"{fmt(st['top_ratio'])} | {fmt(st['low_shift'], 4)} | {fmt(st['top_shift'], 4)} | "
                    f"{fmt(st['low_w'])} |")
    verdict = "inconclusive"
    if "ppo_clip" in findings and "dppo_binary_tv" in findings:
        lm, tm, ls, ts = findings["ppo_clip"]
        dlm = findings["dppo_binary_tv"][0]
        rare_clip = lm[1] > tm[2] and lm[1] > dlm[2]  # clipped more on rare tokens than common ones / than DPPO
        verdict = "reproduced" if rare_clip and ls[0] < DPPO_TV_DELTA else ("not reproduced" if lm[2] <= tm[1] else "inconclusive")
    table = ["| method | zero-weight share μ<0.1 | zero-weight share μ≥0.5 | \\|r−1\\| μ<0.1 | \\|r−1\\| μ≥0.5 | "
             "\\|Δ\\| μ<0.1 | \\|Δ\\| μ≥0.5 | mean w μ<0.1 |", "|---|---|---|---|---|---|---|---|", *rows]
    rule = ("reproduced iff PPO-clip zeroes the gradient of rare (μ<0.1) tokens more often than of common "
            "(μ≥0.5) ones and more often than DPPO's mask does on rare tokens (CIs separated), while the "
            "rare tokens' mean |Δ| stays below DPPO's δ = 0.15; not reproduced iff PPO-clip's rare-token "
            "share is not above its common-token share; else inconclusive.")
    return verdict, table, rule


def _vs(g, ref, others, better_is_ref=True):
    rows, wins, losses = [], 0, 0
    for o in others:
        if o not in g or ref not in g:
            continue
        d = paired_diff(g[ref], g[o], "auc")
        t = paired_diff(g[ref], g[o], "tail_reward")
        wins += d[1] > 0
        losses += d[2] < 0
        rows.append(f"| {ref} − {o} | {fmt(d)} | {fmt(t)} |")
    return rows, wins, losses


def claim4_parts(g):
    """Claim 4's two verdicts (|Â| ablation, KL/TV/K3 alternatives) and their table rows."""
    rows_a, wa, la = _vs(g, "drpo", ["drpo_no_abs_adv"])
    rows_b, wb, lb = _vs(g, "drpo", ["pg_kl", "pg_tv", "pg_k3"])
    va = "reproduced" if rows_a and wa == len(rows_a) else "not reproduced" if rows_a and la else "inconclusive"
    vb = "reproduced" if rows_b and wb == len(rows_b) else "not reproduced" if rows_b and lb == len(rows_b) else "inconclusive"
    return va, vb, rows_a, rows_b


def claim4(g):
    va, vb, rows_a, rows_b = claim4_parts(g)
    verdict = va if va == vb else f"|Â| ablation: {va}; KL/TV/K3: {vb}"
    table = ["| difference | AUC of reward | tail reward |", "|---|---|---|", *rows_a, *rows_b]
    rule = ("each part reproduced iff DRPO's AUC is higher than the ablation's (CI above 0) for every listed "
            "ablation; not reproduced iff the CI is below 0 (for KL/TV/K3: for all three); else inconclusive.")
    return verdict, table, rule


def claim5(g):
    if "mask_drpo" not in g or "drpo" not in g:
        return "inconclusive", ["(runs missing)"], ""
    d = paired_diff(g["mask_drpo"], g["drpo"], "auc")
    t = paired_diff(g["mask_drpo"], g["drpo"], "tail_reward")
    verdict = ("reproduced" if -MARGIN < d[1] and d[2] < MARGIN else
               "not reproduced" if d[1] > MARGIN or d[2] < -MARGIN else "inconclusive")
    table = ["| Mask-DRPO − DRPO | mean [95% CI] |", "|---|---|", f"| AUC of reward | {fmt(d)} |",
             f"| tail reward | {fmt(t)} |"]
    rule = f"reproduced iff the AUC difference CI lies inside ±{MARGIN}; not reproduced iff it lies outside; else inconclusive."
    return verdict, table, rule


def claim6(g, dppo_labels, drpo_labels):
    rows = []
    for lab in dppo_labels + drpo_labels:
        if lab in g:
            rows.append(f"| {lab} | {len(g[lab])} | {fmt(ci(_col(g[lab], 'auc')))} | {fmt(ci(_col(g[lab], 'tail_reward')))} |")
    sd = [_col(g[lab], "auc") for lab in dppo_labels if lab in g]
    sr = [_col(g[lab], "auc") for lab in drpo_labels if lab in g]
    verdict = "inconclusive"
    extra = []
    if len(sd) > 1 and len(sr) > 1:
        a, b = spread_ci(sd), spread_ci(sr)
        extra = [f"| spread of AUC across δ (max − min of means): DPPO-TV | | {fmt(a)} | |",
                 f"| spread of AUC across δ: DRPO | | {fmt(b)} | |"]
        verdict = "reproduced" if a[1] > b[2] else "not reproduced" if b[1] >= a[2] or a[2] < MARGIN else "inconclusive"
    table = ["| setting | seeds | AUC of reward | tail reward |", "|---|---|---|---|", *rows, *extra]
    rule = ("reproduced iff DPPO's spread of AUC across δ is larger than DRPO's with separated CIs; not "
            f"reproduced iff DRPO's spread is at least DPPO's (CIs separated the other way) or DPPO's spread is "
            f"below {MARGIN} (DPPO not sensitive); else inconclusive. Note: max − min of resampled means is biased "
            "upward, so its percentile interval can lie above the point estimate when the settings perform alike.")
    return verdict, table, rule


def claim7(prec: list[dict]):
    by: dict[str, list[dict]] = {}
    for p in prec:
        by.setdefault(p["mismatch"], []).append(p)
    rows, oks = [], []
    for mm, runs in sorted(by.items()):
        def pooled(run, key, names):
            bs = [b for b in run["buckets"] if b["bucket"] in names and b["count"]]
            n = sum(b["count"] for b in bs)
            return sum(b[key] * b["count"] for b in bs) / n if n else float("nan")
        lr = ci([pooled(r, "abs_ratio_minus_1_median", LOW_BUCKETS) for r in runs])
        tr = ci([pooled(r, "abs_ratio_minus_1_median", (TOP_BUCKET,)) for r in runs])
        ls = ci([pooled(r, "abs_shift_median", LOW_BUCKETS) for r in runs])
        ts = ci([pooled(r, "abs_shift_median", (TOP_BUCKET,)) for r in runs])
        lmax = max(max((b["abs_shift_max"] or 0) for b in r["buckets"] if b["bucket"] in LOW_BUCKETS) for r in runs)
        clip = ci([pooled(r, "ppo_clip_outside", LOW_BUCKETS) for r in runs])
        ok = lr[1] > 5 * tr[2] and lmax < DPPO_TV_DELTA
        oks.append(ok)
        rows.append(f"| {mm} | {len(runs)} | {fmt(lr, 4)} | {fmt(tr, 5)} | {fmt(ls, 5)} | {fmt(ts, 5)} | {lmax:.4f} | {fmt(clip)} |")
    verdict = "reproduced" if oks and all(oks) else "not reproduced" if oks and not any(oks) else "inconclusive"
    table = ["| sampler | seeds | median \\|r−1\\| μ<0.1 | median \\|r−1\\| μ≥0.5 | median \\|Δ\\| μ<0.1 | "
             "median \\|Δ\\| μ≥0.5 | max \\|Δ\\| μ<0.1 | outside PPO clip, μ<0.1 |", "|---|---|---|---|---|---|---|---|", *rows]
    rule = ("reproduced iff, for every precision, the rare tokens' median |r−1| exceeds 5× the common tokens' "
            "(CIs) while no rare token's |Δ| reaches DPPO's δ = 0.15; not reproduced iff that fails for every precision.")
    return verdict, table, rule


def evaluate(results="paper_repro/results", precision_results=None):
    """The verdict table as data, without writing anything: ``(runs by group, runs by label,
    [(claim id, claim text, (verdict, table rows, rule), figure name)])`` for one regime's results
    directory (claim 7 falls back to ``precision_results``'s precision runs)."""
    res = {grp: load_results(results, grp) for grp in GROUPS}
    prec = load_results(results, "precision") or load_results(precision_results or results, "precision")
    g = by_label(res["main"] + res["ablation"] + res["delta"] + res["anchor"])
    claims = [
        ("1", "Without a trust region (PG-IS, CISPO) |π − μ| grows and training degrades or collapses; with one "
              "(DPPO, DRPO) it stays bounded.", claim1(g), "rl_main_curves.png"),
        ("2", "DRPO is at least as stable as DPPO and learns at least as fast (area under the reward curve).",
         claim2(g), "rl_main_curves.png"),
        ("3", "Ratio-based trust regions (GRPO clip, SPO) misbehave on rare tokens under mismatch (where their "
              "clipping / weights fall, by μ bucket).", claim3(g), "rl_buckets.png"),
        ("4", "Removing DRPO's |Â| factor hurts (Fig. 4); KL, TV and K3 penalties do worse (Fig. 5).", claim4(g),
         "rl_ablations.png"),
        ("5", "Mask-DRPO performs close to DRPO (Fig. 11).", claim5(g), "rl_ablations.png"),
        ("6", "DPPO is sensitive to δ while DRPO is robust across δ (Figs. 9, 10), incl. the papers' values "
              "(DRPO δ = 12.5, DPPO δ = 0.15 / 0.2).", claim6(g, DPPO_DELTA_LABELS, DRPO_DELTA_LABELS), "rl_delta.png"),
        ("7", "Under bf16 and fp8 mismatch at identical weights the ratio is volatile for low-probability tokens "
              "while the absolute shift stays small (DPPO Fig. 2), measured on the model.", claim7(prec),
         "rl_precision.png"),
    ]
    return res, g, claims


def write_report(results="paper_repro/results", out="paper_repro/REPORT.md", *, regime=None, timing=None,
                 fig_tag: str = "", precision_results=None) -> dict:
    """Write the report for one regime's results; ``fig_tag`` suffixes the per-regime figure names.
    Claim 7 needs no training, so a second regime may reuse ``precision_results`` (another results dir)."""
    res, g, claims = evaluate(results, precision_results)
    claims = [(cid, text, v, fig if fig == "rl_precision.png" else fig.replace(".png", f"{fig_tag}.png"))
              for cid, text, v, fig in claims]
    summary_rows = []
    for lab, runs in sorted(g.items()):
        summary_rows.append(f"| {lab} | {len(runs)} | {fmt(ci(_col(runs, 'auc')))} | {fmt(ci(_col(runs, 'tail_reward')))} | "
                            f"{fmt(ci(_col(runs, 'final_greedy')))} | {fmt(ci(_col(runs, 'late_shift')), 4)} | "
                            f"{fmt(ci(_col(runs, 'late_max_shift')))} | {fmt(ci(_col(runs, 'masked')))} |")
    warm = sorted({r["warm_acc"] for rs in g.values() for r in rs})
    lines = ["# paper_repro: the trust-region claims on real (tiny) RL runs", "",
             "Generated by `drpo-analysis repro` (drpo_analysis/rl/report.py); do not edit by hand.", ""]
    others = sorted(p.name for p in Path(out).parent.glob("REPORT*.md") if p.name != Path(out).name)
    if others:
        lines += ["Reports of the other regimes: " + ", ".join(f"[{o}]({o})" for o in others), ""]
    lines += _setup_section(results, res, regime, timing, warm)
    lines += ["## Verdicts", "", "| claim | verdict | figure |", "|---|---|---|"]
    lines += [f"| {cid}. {text.replace('|', chr(92) + '|')} | **{v[0]}** | `figures/{fig}` |" for cid, text, v, fig in claims]
    for cid, text, (verdict, table, rule), fig in claims:
        lines += ["", f"## Claim {cid}", "", f"> {text}", "", f"**Verdict: {verdict}.** Rule: {rule}", "",
                  *table, "", f"![claim {cid}](../figures/{fig})"]
    lines += ["", "## Side comparisons (paired by seed; not part of any rule)", "",
              "DRPO's weight is w = 1 − sΔ/δ ∈ [1 − 1/δ, 1 + 1/δ]: at the paper's δ = 12.5 it stays within ±8% of "
              "PG-IS's w ≡ 1, at δ = 0.15 it shares DPPO-TV's boundary.", "",
              "| difference | AUC of reward | tail reward | late mean \\|π−μ\\| |", "|---|---|---|---|"]
    for a, b in (("drpo", "pg_is"), ("drpo (delta=0.15)", "dppo_binary_tv"), ("drpo (delta=0.15)", "drpo"),
                 ("ppo_clip", "dppo_binary_tv"), ("spo", "pg_is")):
        if a in g and b in g:
            lines.append(f"| {a} − {b} | {fmt(paired_diff(g[a], g[b], 'auc'))} | "
                         f"{fmt(paired_diff(g[a], g[b], 'tail_reward'))} | {fmt(paired_diff(g[a], g[b], 'late_shift'), 4)} |")
    lines += ["", "## Every configuration (means over seeds, 95% bootstrap CI)", "",
              "| run | seeds | AUC of reward | tail reward | final greedy acc | late mean \\|π−μ\\| | "
              "late max \\|π−μ\\| | late zero-weight share |", "|---|---|---|---|---|---|---|---|", *summary_rows]
    io.write_text(out, "\n".join(lines) + "\n")
    verdicts = {cid: v[0] for cid, _, v, _ in claims}
    io.write_json(Path(results, "claims.json"), {"claims": [
        {"id": cid, "claim": text, "verdict": v[0], "rule": v[2], "table": v[1], "figure": f"figures/{fig}"}
        for cid, text, v, fig in claims]}, indent=1)
    return verdicts


def _setup_section(results, res, regime, timing, warm):
    n = {k: len(v) for k, v in res.items()}
    base = (res["main"] or [{}])[0].get("config", {})
    lines = ["## Setup", "",
             f"- Model: hand-written decoder-only transformer {base.get('model')}, CPU, float32 policy.",
             f"- Task: `{base.get('task')}` size {base.get('task_size')} (fixed-width addition, binary exact-match "
             f"reward); supervised warm start chosen by measured sampled accuracy (held-out accuracy at RL start: "
             f"{', '.join(f'{w:.3f}' for w in warm)}).",
             f"- GRPO: {base.get('prompts_per_step')} prompts × {base.get('samples_per_prompt')} samples per "
             f"iteration, {base.get('steps')} iterations, advantages centred (no std division), aggregation "
             f"`{base.get('agg')}`, AdamW, grad clip {base.get('grad_clip')}; ratios anchored on the rollout μ.",
             f"- Regime (the same for every method): lr {regime and regime['lr']}, "
             f"{regime and regime['minibatches']} minibatches × {regime and regime['epochs']} epochs per rollout, "
             f"mismatch `{regime and regime['mismatch']}`. How it was chosen: "
             + (" ".join(regime.get("rule", "").replace("``", "").replace("returns (cell, table).", "").split())
                if regime else "—"),
             f"- Runs: sweep {n['sweep']}, main {n['main']}, ablations {n['ablation']}, δ sensitivity {n['delta']}, "
             f"MiniRL anchor {n['anchor']}; summed single-run times: "
             + ", ".join(f"{k} {sum(r['wall_s'] for r in v) / 60:.1f} min" for k, v in res.items() if v) + ".",
             "- Not run on a GPU (no GPU on this machine); the same code takes `--device cuda`."]
    if timing:
        lines.append(f"- Wall time: {timing}")
    lines += ["", "### The regime sweep (evidence for the regime)", "",
              "Tail reward = mean training reward over the last quarter of 40 iterations, one seed.", "",
              "| lr | updates/rollout | mismatch | pg_is tail reward | dppo_binary_tv tail reward | gap | "
              "DPPO stable |", "|---|---|---|---|---|---|---|"]
    if res["sweep"]:
        _, table = choose_regime(results)
        for c in table:
            lines.append(f"| {c['lr']:g} | {c['updates']} | {c['mismatch']} | {c['pg_is']['tail_reward']:.3f} | "
                         f"{c['dppo_binary_tv']['tail_reward']:.3f} | {c['gap']:+.3f} | {c['tr_stable']} |")
    return lines + [""]
