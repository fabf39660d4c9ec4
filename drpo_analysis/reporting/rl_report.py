"""paper_repro/REPORT.md and results/claims.json from the matrix's run summaries.

Two layers: **rules** (pure functions of the run summaries and the committed ``primary`` section
of ``matrix.json``, returning data: comparisons with estimates, 95% t intervals over seeds, one-
sided p-values, Holm-adjusted p-values, and a verdict) and a **renderer** (markdown from that
data). ``results/claims.json`` holds the rules' data, so the audit reads numbers and verdicts
without recomputing anything.

Per-run scalars (:func:`scalars`):

* ``auc``: mean training reward over all iterations; ``tail_reward`` / ``head_reward``: over the
  last / first quarter of iterations;
* ``late_shift`` / ``late_max_shift``: mean over the last quarter of the per-step mean / max
  ``|π − μ|`` of sampled tokens (μ = the rollout's);
* ``gain``: held-out sampled accuracy (several samples per prompt, temperature 1) after the last
  iteration minus before the first one (the warm start).

Seeds are independent replicates (each its own warm start), so every comparison is a paired
difference over seeds with a Student t interval (``util.stats``). A claim's comparisons form one
family: Holm's adjustment controls its family-wise error. Verdict rule, the same for every family:
**reproduced** iff every comparison rejects its null after Holm (α = 0.05); **not reproduced** iff
some comparison's 95% t interval lies entirely on the side that contradicts the claim;
**inconclusive** otherwise. Equivalence claims use TOST with the margin stated in ``matrix.json``.
No claim gets a verdict unless the learning gate passes (:func:`learning_gate`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drpo_analysis.core.methods import DPPO_TV_DELTA
from drpo_analysis.util import stats
from drpo_analysis.util import io

GROUPS = ("sweep", "gate", "main", "ablation", "delta")
LOW_BUCKETS = ("0-0.001", "0.001-0.01", "0.01-0.1")
TOP_BUCKET = "0.5-1"
NOT_JUDGED = "not judged (learning gate failed)"


# ---- per-run scalars -------------------------------------------------------------------------------
def _quarter_mean(vals, last=True):
    v = [x for x in vals if x is not None]
    if not v:
        return float("nan")
    q = max(1, len(v) // 4)
    return float(np.mean(v[-q:] if last else v[:q]))


def pooled_bucket(run, what: str, buckets) -> float:
    """Count-weighted mean of a per-μ-bucket statistic over several buckets."""
    b = run["buckets"]
    num = den = 0.0
    for name in buckets:
        v, n = b.get(f"bucket/{name}/{what}/mean"), b.get(f"bucket/{name}/count") or 0
        if v is not None and n:
            num, den = num + v * n, den + n
    return num / den if den else float("nan")


def scalars(run: dict) -> dict:
    c, ev = run["curves"], run["eval"]
    return {"auc": float(np.mean(c["reward/mean"])), "tail_reward": _quarter_mean(c["reward/mean"]),
            "head_reward": _quarter_mean(c["reward/mean"], last=False),
            "late_shift": _quarter_mean(c["shift/mean_abs"]), "late_max_shift": _quarter_mean(c["shift/max_abs"]),
            "final_greedy": ev["greedy_acc"][-1], "final_sampled": ev["sampled_acc"][-1],
            "gain": ev["sampled_acc"][-1] - ev["sampled_acc"][0],
            "masked": _quarter_mean(c["frac/masked"]), "diverged": run["status"] == "diverged",
            "rare_zero_weight": pooled_bucket(run, "masked", LOW_BUCKETS),
            "common_zero_weight": pooled_bucket(run, "masked", (TOP_BUCKET,)),
            "rare_vs_common_zero_weight": pooled_bucket(run, "masked", LOW_BUCKETS)
            - pooled_bucket(run, "masked", (TOP_BUCKET,)),
            "rare_abs_shift": pooled_bucket(run, "abs_shift", LOW_BUCKETS),
            "common_abs_shift": pooled_bucket(run, "abs_shift", (TOP_BUCKET,)),
            "share_mu_le_0.01": _count_share(run, ("0-0.001", "0.001-0.01"))}


def _count_share(run, buckets) -> float:
    """Share of the run's sampled tokens (all updates) that fall in ``buckets``."""
    b = run["buckets"]
    counts = {k.split("/")[1]: v or 0 for k, v in b.items() if k.endswith("/count")}
    total = sum(counts.values())
    return sum(counts.get(k, 0) for k in buckets) / total if total else float("nan")


def label(run: dict) -> str:
    """``method`` plus its non-default parameters, e.g. ``drpo (delta=37.5)``."""
    from drpo_analysis.core import methods

    cfg = run["config"]
    m = methods.get(cfg["method"])
    changed = {k: v for k, v in cfg["params"].items() if any(p.name == k and p.default != v for p in m.params)}
    if {"delta_low", "delta_high"} <= set(changed) and changed["delta_low"] == changed["delta_high"]:
        changed = {"delta": changed["delta_low"]}
    return cfg["method"] + (" (" + ", ".join(f"{k}={v:g}" for k, v in changed.items()) + ")" if changed else "")


def by_label(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in sorted(runs, key=lambda r: r["config"]["seed"]):
        out.setdefault(label(r), []).append(r)
    return out


def per_seed(runs: list[dict], key: str) -> dict[int, float]:
    return {r["config"]["seed"]: scalars(r)[key] for r in runs}


def delta_label(method: str, delta: float) -> str:
    """The run label of ``method`` at δ (its registry default keeps the bare name)."""
    from drpo_analysis.core import methods

    m = methods.get(method)
    names = ("delta_low", "delta_high") if method.startswith("dppo") else ("delta",)
    default = next(p.default for p in m.params if p.name == names[0])
    return method if np.isclose(default, delta) else f"{method} (delta={delta:g})"


# ---- comparisons -------------------------------------------------------------------------------------
def comparison(name: str, d, *, alternative: str = "greater", null: float = 0.0) -> dict:
    """A paired comparison over seeds: mean difference, 95% t interval, one-sided p against ``null``."""
    d = np.asarray(d, float)
    m, lo, hi = stats.mean_ci(d, method="t") if d.size else (float("nan"),) * 3
    return {"name": name, "estimate": m, "ci_low": lo, "ci_high": hi, "n": int(d.size),
            "alternative": alternative, "null": null,
            "p": stats.t_test_pvalue(d, null=null, alternative=alternative) if d.size else 1.0}


def paired(g, a: str, b: str, key: str, **kw) -> dict:
    if a not in g or b not in g:
        return comparison(f"{a} − {b}: {key}", [], **kw) | {"missing": True}
    return comparison(f"{a} − {b}: {key}", stats.paired_differences(per_seed(g[a], key), per_seed(g[b], key)), **kw)


def family_verdict(comps: list[dict], alpha: float) -> str:
    """Holm over the family (adds ``p_holm``), then the module's verdict rule."""
    if not comps or any(c.get("missing") or c["n"] < 2 for c in comps):
        return "inconclusive"
    for c, p in zip(comps, stats.holm([c["p"] for c in comps])):
        wrong_side = c["ci_high"] < c["null"] if c["alternative"] == "greater" else c["ci_low"] > c["null"]
        c["p_holm"] = p
        c["outcome"] = "supports" if p < alpha else "contradicts" if wrong_side else "neither"
    if all(c["outcome"] == "supports" for c in comps):
        return "reproduced"
    return "not reproduced" if any(c["outcome"] == "contradicts" for c in comps) else "inconclusive"


def equivalence(g, a: str, b: str, key: str, margin: float, alpha: float) -> tuple[str, dict]:
    """TOST of ``|mean(a − b)| < margin``: reproduced iff equivalent; not reproduced iff the t
    interval lies entirely outside ±margin; else inconclusive."""
    c = paired(g, a, b, key, alternative="two-sided")
    if c.get("missing") or c["n"] < 2:
        return "inconclusive", c
    d = stats.paired_differences(per_seed(g[a], key), per_seed(g[b], key))
    p, eq = stats.tost(d, margin, alpha=alpha)
    c |= {"test": f"TOST ±{margin:g}", "p_tost": p, "margin": margin}
    outside = c["ci_low"] > margin or c["ci_high"] < -margin
    c["outcome"] = "supports" if eq else "contradicts" if outside else "neither"
    return ("reproduced" if eq else "not reproduced" if outside else "inconclusive"), c


# ---- the rules -----------------------------------------------------------------------------------------
def learning_gate(gate: dict[str, list[dict]], spec: dict, alpha: float) -> dict:
    """Every method learns without mismatch: the t interval of its mean held-out accuracy gain over
    seeds lies above 0 and the mean gain is at least ``min_gain``."""
    rows = []
    for lab, runs in sorted(gate.items()):
        gains = [scalars(r)["gain"] for r in runs]
        m, lo, hi = stats.mean_ci(gains, method="t")
        rows.append({"method": lab, "seeds": len(runs), "warm_start_sampled_acc": float(np.mean(
            [r["eval"]["sampled_acc"][0] for r in runs])), "gain": m, "ci_low": lo, "ci_high": hi,
            "passed": bool(len(runs) >= 2 and lo > 0 and m >= spec["min_gain"])})
    return {"passed": bool(rows) and all(r["passed"] for r in rows), "min_gain": spec["min_gain"],
            "rule": spec["rule"], "rows": rows}


def claim_family(g, spec: dict, alpha: float) -> tuple[str, list[dict]]:
    """A family of one-sided paired comparisons ``[a, b, key, "greater"]`` (claim 1, 4) or
    non-inferiority ``[a, b, key, "noninferior"]`` with the spec's margin (claim 2)."""
    comps = []
    for a, b, key, kind in spec["family"]:
        if kind == "noninferior":
            comps.append(paired(g, a, b, key, alternative="greater", null=-spec["margin"]))
        else:
            comps.append(paired(g, a, b, key, alternative=kind))
    return family_verdict(comps, alpha), comps


def claim3_family(g, spec: dict, alpha: float) -> tuple[str, list[dict]]:
    """PPO-clip zeroes rare (μ < 0.1) tokens' weight more often than common (μ ≥ 0.5) ones', and
    more often than DPPO-TV zeroes rare tokens."""
    comps = []
    for entry in spec["family"]:
        if len(entry) == 3:  # [method, within-run statistic, alternative]
            m, key, alt = entry
            comps.append(comparison(f"{m}: {key}", list(per_seed(g.get(m, []), key).values()), alternative=alt))
        else:
            a, b, key, alt = entry
            comps.append(paired(g, a, b, key, alternative=alt))
    return family_verdict(comps, alpha), comps


def claim6_family(g, spec: dict, alpha: float) -> tuple[str, list[dict]]:
    """Per seed, the range over δ of the AUC for DPPO-TV minus DRPO's (equal log-spans): DPPO more
    sensitive iff the mean difference is above 0."""
    ranges = {}
    for method in ("dppo_binary_tv", "drpo"):
        labs = [delta_label(method, d) for d in spec[method]]
        if not all(lab in g for lab in labs):
            return "inconclusive", [comparison("DPPO-TV range − DRPO range: auc", []) | {"missing": True}]
        seeds = set.intersection(*(set(per_seed(g[lab], "auc")) for lab in labs))
        ranges[method] = {s: np.ptp([per_seed(g[lab], "auc")[s] for lab in labs]) for s in seeds}
    d = stats.paired_differences(ranges["dppo_binary_tv"], ranges["drpo"])
    comps = [comparison("DPPO-TV range − DRPO range over δ: auc", d)]
    return family_verdict(comps, alpha), comps


def claim7_rows(prec: list[dict]) -> tuple[str, list[dict]]:
    """At identical weights, per fitted precision: rare tokens' median |r − 1| exceeds 5× the common
    tokens' (t interval of the per-seed difference above 0) while no rare token's |Δ| reaches DPPO-TV's
    δ (the registry's default, 0.15)."""
    by: dict[str, list[dict]] = {}
    for p in prec:
        by.setdefault(p["name"], []).append(p)

    def pooled(run, key, names):
        bs = [b for b in run["buckets"] if b["bucket"] in names and b["count"]]
        n = sum(b["count"] for b in bs)
        return sum(b[key] * b["count"] for b in bs) / n if n else float("nan")
    rows, oks = [], []
    for mm, runs in sorted(by.items()):
        d = [pooled(r, "abs_ratio_minus_1_median", LOW_BUCKETS) - 5 * pooled(r, "abs_ratio_minus_1_median", (TOP_BUCKET,))
             for r in runs]
        c = comparison(f"{mm}: median |r−1| μ<0.1 − 5 × median |r−1| μ≥0.5", d)
        lmax = max(max((b["abs_shift_max"] or 0) for b in r["buckets"] if b["bucket"] in LOW_BUCKETS) for r in runs)
        c |= {"mismatch": f"{mm} ({runs[0]['mismatch']})", "max_abs_shift_rare": lmax,
              "ppo_clip_outside_rare": float(np.mean([pooled(r, "ppo_clip_outside", LOW_BUCKETS) for r in runs])),
              "median_abs_shift_rare": float(np.mean([pooled(r, "abs_shift_median", LOW_BUCKETS) for r in runs])),
              "shares": {k: float(np.mean([r["shares"][k] for r in runs])) for k in runs[0].get("shares", {})}}
        oks.append(c["n"] >= 2 and c["ci_low"] > 0 and lmax < DPPO_TV_DELTA)
        rows.append(c)
    verdict = "reproduced" if oks and all(oks) else "not reproduced" if oks and not any(oks) else "inconclusive"
    return verdict, rows


CLAIMS = (  # id, paper, claim, figure
    ("1", "DPPO", "Without a trust region (PG-IS, CISPO) |π − μ| grows and training degrades; with DPPO's "
                  "it stays bounded and training is better.", "rl_main_curves.png"),
    ("1b", "DRPO", "DRPO at its paper δ = 12.5 behaves like PG-IS (its weight stays within ±8% of 1).",
     "rl_main_curves.png"),
    ("2", "DRPO", "DRPO is at least as stable as DPPO and learns at least as fast.", "rl_main_curves.png"),
    ("3", "DPPO", "Ratio clipping (PPO/GRPO) misfires on rare tokens under mismatch: it zeroes their "
                  "gradient more often than common tokens' and more often than DPPO's mask.", "rl_buckets.png"),
    ("4", "DRPO", "Removing DRPO's |Â| factor hurts (Fig. 4); KL, TV and K3 penalties do worse (Fig. 5).",
     "rl_ablations.png"),
    ("5", "DRPO", "Mask-DRPO performs close to DRPO (Fig. 11).", "rl_ablations.png"),
    ("6", "DRPO", "DPPO is sensitive to δ while DRPO is robust across δ (Figs. 9, 10), on grids of equal "
                  "log-span around the papers' values.", "rl_delta.png"),
    ("7", "DPPO", "Under bf16 and fp8 mismatch at identical weights the ratio is volatile for "
                  "low-probability tokens while the absolute shift stays small (DPPO Fig. 2).", "rl_precision.png"),
)


def evaluate(results: str, primary: dict) -> dict:
    """Every rule's data for one results directory: ``{"gate", "claims": [...], "side"}``."""
    res = {grp: _load(results, grp) for grp in GROUPS}
    prec = _load(results, "precision")
    alpha = primary.get("alpha", 0.05)
    gate = learning_gate(by_label(res["gate"]), primary["gate"], alpha)
    g = by_label(res["main"] + res["ablation"] + res["delta"])
    outcomes = {
        "1": claim_family(g, primary["1"], alpha),
        "1b": equivalence(g, *primary["1b"]["equivalence"], primary["1b"]["margin"], alpha),
        "2": claim_family(g, primary["2"], alpha),
        "3": claim3_family(g, primary["3"], alpha),
        "4": claim_family(g, primary["4"], alpha),
        "5": equivalence(g, *primary["5"]["equivalence"], primary["5"]["margin"], alpha),
        "6": claim6_family(g, primary["6"], alpha),
        "7": claim7_rows(prec),
    }
    claims = []
    for cid, paper, text, fig in CLAIMS:
        outcome, comps = outcomes[cid]
        comps = comps if isinstance(comps, list) else [comps]
        judged = gate["passed"] or cid == "7"  # claim 7 is a measurement at identical weights, no training
        claims.append({"id": cid, "paper": paper, "claim": text, "rule_outcome": outcome,
                       "verdict": outcome if judged else NOT_JUDGED, "test": primary.get(cid, {}).get("test", ""),
                       "comparisons": comps, "figure": f"figures/{fig}"})
    side = [paired(g, "drpo", b, "auc", alternative="two-sided") for b in ("ppo_clip", "spo", "dppo_binary_tv", "pg_is")]
    return {"gate": gate, "claims": claims, "side": side, "alpha": alpha,
            "configs": {lab: _config_row(runs) for lab, runs in sorted(g.items())}}


def _load(results, group):
    return [json.loads(p.read_text()) for p in sorted((Path(results) / group).glob("*.json"))]


CONFIG_KEYS = ("auc", "tail_reward", "final_sampled", "gain", "late_shift", "late_max_shift", "masked")


def _config_row(runs):
    """Means with t intervals of the summary scalars, and every scalar per seed (the audit's data)."""
    row = {"seeds": len(runs), "per_seed": {str(r["config"]["seed"]): scalars(r) for r in runs}}
    for key in CONFIG_KEYS:
        m, lo, hi = stats.mean_ci([scalars(r)[key] for r in runs], method="t")
        row[key] = [m, lo, hi]
    return row


# ---- the renderer ---------------------------------------------------------------------------------------
VERDICT_RULE = ("Each claim's comparisons (written in `paper_repro/matrix.json` before the matrix ran) are paired "
                "differences over independent seeds with 95% t intervals and one-sided t tests, Holm-adjusted within "
                "the claim. **reproduced** iff every comparison rejects its null after Holm (α = {alpha}); **not "
                "reproduced** iff some comparison's interval lies entirely on the side that contradicts the claim; "
                "**inconclusive** otherwise. Equivalence claims (1b, 5): TOST with the stated margin; not reproduced "
                "iff the interval lies outside ±margin. Claim 7 needs no training, so the learning gate does not "
                "apply to it.")
def _f(x, digits=3):
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def _ci(m, lo, hi, digits=3):
    return f"{_f(m, digits)} [{_f(lo, digits)}, {_f(hi, digits)}]"


def _p(x):
    return "—" if x is None else (f"{x:.3g}" if x >= 1e-3 else "<0.001")


def render_comparisons(comps: list[dict]) -> list[str]:
    rows = ["| comparison (paired over seeds) | seeds | mean [95% t CI] | null, alternative | p | p (Holm) |",
            "|---|---|---|---|---|---|"]
    for c in comps:
        alt = c.get("test") or f"{c['null']:g}, {c['alternative']}"
        p = c.get("p_tost", c["p"])
        rows.append(f"| {c['name']} | {c['n']} | {_ci(c['estimate'], c['ci_low'], c['ci_high'], 4)} | {alt} | "
                    f"{_p(p)} | {_p(c.get('p_holm'))} |")
    return rows


def render(data: dict, *, setup: list[str]) -> str:
    gate, claims = data["gate"], data["claims"]
    lines = ["# paper_repro: the trust-region claims on real (tiny) RL runs", "",
             "Generated by `drpo-analysis repro` (drpo_analysis/reporting/rl_report.py); do not edit by hand.", "",
             *setup, "## Learning gate (no verdict without it)", "",
             f"Every method runs without mismatch; rule: {gate['rule']} (min_gain = {gate['min_gain']}). "
             f"**Gate {'passed' if gate['passed'] else 'FAILED'}.**", "",
             "| method | seeds | warm-start sampled acc | gain in held-out sampled acc [95% t CI] | passes |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['seeds']} | {_f(r['warm_start_sampled_acc'])} | "
              f"{_ci(r['gain'], r['ci_low'], r['ci_high']) if r['seeds'] > 1 else _f(r['gain']) + ' (one seed: no interval)'}"
              f" | {'yes' if r['passed'] else 'no'} |" for r in gate["rows"]]
    if not gate["passed"]:
        lines += ["", "The gate did not pass (a method lacks the seeds or the gain its rule requires), so no training "
                      "claim gets a verdict; the rule outcomes below are shown for information only."]
    lines += ["", "## Verdicts", "", VERDICT_RULE.format(alpha=data["alpha"]), "",
              "| claim | paper | verdict | rule outcome | figure |", "|---|---|---|---|---|"]
    lines += [f"| {c['id']}. {c['claim'].replace('|', chr(92) + '|')} | {c['paper']} | **{c['verdict']}** | {c['rule_outcome']} | "
              f"`{c['figure']}` |" for c in claims]
    for c in claims:
        lines += ["", f"## Claim {c['id']} ({c['paper']})", "", f"> {c['claim']}", "",
                  f"**Verdict: {c['verdict']}.** Test: {c['test'] or 'see rows'}.", ""]
        if c["id"] == "7":
            lines += ["| sampler | seeds | median \\|r−1\\| μ<0.1 − 5× μ≥0.5 [95% t CI] | median \\|Δ\\| μ<0.1 | "
                      "max \\|Δ\\| μ<0.1 | outside PPO clip μ<0.1 | μ ≤ 0.01 / ≤ 0.1 shares |", "|---|---|---|---|---|---|---|"]
            lines += [f"| {r['mismatch']} | {r['n']} | {_ci(r['estimate'], r['ci_low'], r['ci_high'], 4)} | "
                      f"{_f(r['median_abs_shift_rare'], 5)} | {_f(r['max_abs_shift_rare'], 4)} | "
                      f"{_f(r['ppo_clip_outside_rare'])} | " + " / ".join(f"{v:.3f}" for v in r["shares"].values()) + " |"
                      for r in c["comparisons"]]
        else:
            lines += render_comparisons(c["comparisons"])
        lines += ["", f"![claim {c['id']}](../{c['figure']})"]
    lines += ["", "## Side comparisons (two-sided, not part of any verdict)", "", *render_comparisons(data["side"]),
              "", "## Every configuration (means over seeds, 95% t CI)", "",
              "| run | seeds | AUC of reward | tail reward | final sampled acc | gain | late mean \\|π−μ\\| | "
              "late max \\|π−μ\\| | late zero-weight share |", "|---|---|---|---|---|---|---|---|---|"]
    for lab, row in data["configs"].items():
        lines.append(f"| {lab} | {row['seeds']} | " + " | ".join(
            _ci(*row[k], 4 if k == "late_shift" else 3) for k in
            CONFIG_KEYS) + " |")
    return "\n".join(lines) + "\n"


def to_json_data(obj):
    """The rules' data as plain JSON values: numpy scalars → Python, NaN → None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): to_json_data(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json_data(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if np.isnan(obj) else float(obj)
    return obj


def write_report(results="paper_repro/results", out="paper_repro/REPORT.md", *, primary: dict, setup=()) -> dict:
    """Evaluate the rules, write ``results/claims.json`` (the data) and the markdown report."""
    data = evaluate(results, primary)
    Path(results, "claims.json").write_text(json.dumps(to_json_data(data), indent=1))
    Path(out).write_text(render(data, setup=list(setup)))
    return data


def setup_lines(results: str, *, regime: dict | None, fit: dict | None, timing: str | None,
                sweep_table: list[dict], planned: dict | None = None) -> list[str]:
    """The report's setup section: model and task, the fit to the real model, the regime and how it
    was chosen (with the sweep's table), run counts and wall time."""
    res = {grp: _load(results, grp) for grp in GROUPS}
    base = (res["main"] or res["gate"] or [{}])[0].get("config", {})
    lines = ["## Setup", "",
             f"- Model: hand-written decoder-only transformer {base.get('model')}, CPU, float32 policy.",
             f"- Task: `{base.get('task')}` size {base.get('task_size')} (exact-match reward on the answer) after {base.get('free')} free-form word tokens drawn by the warm-start data from a Zipf law "
             f"(s = {base.get('zipf_s')}) over the vocabulary's word tokens: the long tail of sampled-token μ. "
             "Each seed has its own supervised warm start (stopped at a measured held-out sampled accuracy of "
             f"{base.get('warm_target_acc')}) and its own RL streams.",
             f"- GRPO: {base.get('prompts_per_step')} prompts × {base.get('samples_per_prompt')} samples per iteration, "
             f"{base.get('steps')} iterations, lr {base.get('lr')}, advantages centred and divided by the group std "
             f"({base.get('std_normalize')}), aggregation `{base.get('agg')}`, AdamW, grad clip {base.get('grad_clip')}; "
             "ratios anchored on the rollout μ."]
    if fit:
        t, tm = fit["tail"], fit["tail_measured"]
        lines += [f"- Fit to the real model ({fit.get('model') or '?'}; `{fit['measurement']}`, per-bucket "
                  f"{fit['statistic']} |π − μ|; fitted on the warm start of seed {fit['fit_seed']}, which no matrix "
                  "run uses):",
                  f"  - sampled-token shares μ ≤ 0.01 / μ ≤ 0.1: real {t['target'][0]:.3f} / {t['target'][1]:.3f}, "
                  f"this model {tm['mu<=0.01']:.3f} / {tm['mu<=0.1']:.3f} (factor "
                  f"{max(tm['mu<=0.01'] / t['target'][0], t['target'][0] / tm['mu<=0.01']):.2f} / "
                  f"{max(tm['mu<=0.1'] / t['target'][1], t['target'][1] / tm['mu<=0.1']):.2f}; the issue asks ≤ 2);"]
        for prec, f in fit["noise"].items():
            lines.append(f"  - {prec}: sampler `{f['spec']}`; per-bucket |π − μ| real → fitted (sampled check): " +
                         ", ".join(f"{_g(a)} → {_g(b)}" for a, b in zip(f["target"], f["check_sampled"])) + ";")
    if regime:
        lines.append(f"- Regime (the same for every method): lr {regime['lr']}, {regime['minibatches']} minibatches × "
                     f"{regime['epochs']} epochs per rollout, mismatch `{regime['mismatch']}` (staleness is its own axis: "
                     "`stale=k`). Chosen by: " + " ".join(regime.get("rule", "").replace("``", "").split()))
    n = {k: len(v) for k, v in res.items()}
    planned = planned or {}
    lines.append("- Runs finished: " + ", ".join(f"{k} {v}" + (f" of {planned[k]} planned" if k in planned else "")
                                                for k, v in n.items()) + "; summed single-run times: " +
                 ", ".join(f"{k} {sum(r['wall_s'] for r in v) / 60:.1f} min" for k, v in res.items() if v) + ".")
    if timing:
        lines.append(f"- Wall time: {timing}")
    if sweep_table:
        lines += ["", "### The regime sweep (sweep seeds only)", "",
                  "| lr | updates/rollout | mismatch | pg_is tail reward | dppo_binary_tv tail reward | gap | DPPO stable |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {c['lr']:g} | {c['updates']} | {c['mismatch']} | {c['pg_is']['tail_reward']:.3f} | "
                  f"{c['dppo_binary_tv']['tail_reward']:.3f} | {c['gap']:+.3f} | {c['tr_stable']} |" for c in sweep_table]
    return lines + [""]


def _g(x):
    return "—" if x is None else f"{x:.2g}"
