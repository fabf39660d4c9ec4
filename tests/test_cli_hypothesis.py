"""The command line itself under random argument lists: every command, options drawn from its own
parser, hostile values. Whatever the arguments, the exit code is 0, 1 or 2 and nothing escapes as
a traceback.

The long computations behind the commands (proofs, audit, benchmarks, mutation self-test,
conformance, RL training, the model behind rollouts, the repro matrix, figure scripts) are replaced
by stubs that return at once: this test is about argument handling, path checks and validation,
which all run before them. The simulations run for real, with small sizes put first on the command
line (drawn integers are small, so they cannot make them large).
"""
import argparse
import contextlib
from pathlib import Path

import numpy as np

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from drpo_analysis import cli

HOSTILE = ["", " ", "-1", "0", "1", "2", "3", "nan", "inf", "-inf", "1e308", "1e-300", "0.5", "x", "none",
           "/proc/x", "/dev/null", "/", "a=b", "=", "K=V=W", ":", "noise=-1", "bf16+noise=0.3", "noise:0.1",
           "drpo", "drpo:delta=-1", "pg_is", "lr=1,2", "mismatch=bf16,noise=1", "é", "--", "-", "mod:fn",
           "verl:vanilla", "trl:grpo", "agg=token-mean", "bogus=1", "x" * 300]
COMMANDS = ["methods", "prove", "audit", "fuzz", "simulate vocab", "simulate dynamics", "rl", "lmrl", "rollouts",
            "diagnose", "repro", "figures", "bench", "demo"]
SMALL = {"simulate vocab": ["--V", "64", "--contexts", "2", "--samples", "2", "--topk", "3"],
         "simulate dynamics": ["--steps", "2", "--V", "32", "--prompts", "2", "--seeds", "1", "--group", "2",
                               "--length", "2"]}


def _leaf(command: str) -> argparse.ArgumentParser:
    parser = cli.build_parser(only=command.split()[0])
    for word in command.split():
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def _arguments(command: str, paths: list[str]):
    actions = [a for a in _leaf(command)._actions if a.option_strings and a.dest != "help"]
    value = st.sampled_from(HOSTILE + paths) | st.text(max_size=6)

    def pair(action):
        flag = st.sampled_from(action.option_strings)
        if action.nargs == 0:
            return flag.map(lambda f: [f])
        choices = st.sampled_from(list(action.choices)) if action.choices else st.nothing()
        return st.tuples(flag, choices | value).map(list)

    token = st.one_of(*(pair(a) for a in actions), value.map(lambda v: [v]))
    return st.lists(token, max_size=6).map(lambda parts: [x for p in parts for x in p])


@contextlib.contextmanager
def stubs(tmp_path):
    """The expensive work behind each command, replaced (see the module docstring)."""
    from drpo_analysis.bench import timing
    from drpo_analysis.claims import audit, proving
    from drpo_analysis.cli.commands import demo, figures
    from drpo_analysis.fuzz import conformance, mutants, runner
    from drpo_analysis.lm import loading, rollouts
    from drpo_analysis.reporting import lm_report, rl_report
    from drpo_analysis.rl import experiments, lm_grpo, lm_study, matrix, trainer
    from drpo_analysis.util import io

    script = tmp_path / "make_nothing.py"
    script.write_text("def main(outdir):\n    return []\n")

    def train(cfg, out, **kw):
        cfg.validate()
        io.append_jsonl(f"{out}/metrics.jsonl", {"step": 0, "reward/mean": 0.0, "eval/greedy_acc": 0.0})
        return {"status": "ok", "step": 0, "warm_acc": 0.0, "out": str(out)}

    real_fuzz = runner.fuzz
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setattr(proving, "proofs_dir", lambda: tmp_path / "proofs")
        mp.setattr(proving, "run_claims", lambda claims, **kw: [])
        mp.setattr(audit, "run_audit", lambda ids=None, **kw: ([], []))
        mp.setattr(timing, "run", lambda only=None, **kw: [])
        mp.setattr(mutants, "self_test", lambda seeds, **kw: {
            "per_seed": [], "mutants": 0, "killed": 0, "score": 1.0, "false_positives": 0,
            "correct_implementations": 0, "survivors": {}, "false_positive_targets": {}})
        mp.setattr(conformance, "run", lambda out, **kw: {})
        mp.setattr(conformance, "summary_text", lambda res: "")
        mp.setattr(runner, "fuzz", lambda target, examples=24, **kw: real_fuzz(
            target, examples=min(examples, 1), checks=["gradient"], **{k: v for k, v in kw.items() if k != "checks"}))
        mp.setattr(trainer, "run", train)
        mp.setattr(lm_grpo, "run", lambda cfg, out, build, **kw: train(cfg, out) | {"step": 0})
        mp.setattr(lm_study, "run_study", lambda cfg, arms, out, build, **kw: {"arms": {}, "complete": True, "mismatch": {}})
        mp.setattr(lm_report, "write", lambda study, out, **kw: {"report": None})
        mp.setattr(matrix, "run_all", lambda specs, **kw: 0)
        mp.setattr(experiments, "run_precision", lambda specs, cfg, **kw: 0)
        mp.setattr(experiments, "choose_regime", lambda results, **kw: ({"lr": 1e-3}, None))
        mp.setattr(rl_report, "write_report", lambda results, out, **kw: {})
        mp.setattr(figures, "scripts", lambda folder: {"weights": script})
        # rollouts: no model; a committed fixture stands for the generated arrays
        fixture = dict(np.load(Path(__file__).parent / "fixtures" / "rollouts" / "smollm2_bf16.npz"))
        mp.setattr(loading, "available", lambda: True)
        mp.setattr(loading, "load", lambda: None)
        mp.setattr(rollouts, "generate", lambda lm, cfg, **kw: (fixture, None))
        mp.setattr(rollouts, "summary", lambda arrays, vocab, cfg: {
            "tokens": 1, "share_mu_le_0.01": 0.0, "mean_abs_log_ratio": 0.0, "exact_mean": {"tv": 0.0, "kl": 0.0}})
        mp.setattr(demo, "STEPS", tuple(s for s in demo.STEPS if s[1][0] not in ("simulate", "figures")))
        yield


def test_every_command_is_covered():
    assert {c.split()[0] for c in COMMANDS} == set(cli.COMMANDS), \
        "a new command: add it to COMMANDS here (and stub its long computation in stubs())"


@pytest.mark.parametrize("command", COMMANDS)
def test_random_command_lines_exit_0_1_or_2(command, tmp_path, capsys):
    (tmp_path / "a_file").write_text("{}\n")
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "loss.py").write_text("def loss(logp, logp_mu, adv, mask, **kw):\n"
                                      "    return -(adv * (logp - logp_mu).exp() * mask).sum() / mask.sum()\n")
    paths = [str(tmp_path / n) for n in ("a_file", "a_dir", "missing", "loss.py")] + [f"{tmp_path}/loss.py:loss"]

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(_arguments(command, paths))
    def check(args):
        argv = [*command.split(), *SMALL.get(command, []), *args]
        try:
            rc = cli.main(argv)
        except SystemExit as exc:
            rc = exc.code
        _, err = capsys.readouterr()
        assert rc in (0, 1, 2), (argv, rc, err)
        assert "Traceback" not in err, (argv, err)
        if rc == 2:
            assert err.strip().count("\n") == 0 and "error:" in err, (argv, err)   # one line

    with stubs(tmp_path):
        check()
