"""Every command's files: one-line usage errors for bad paths, atomic writes, torn JSON lines,
``rl --resume`` from the configuration recorded in the run folder, unknown names, --help defaults.

(``methods`` and ``bench`` take no path.)"""
import json
import warnings
from pathlib import Path

import pytest

from drpo_analysis import cli
from drpo_analysis.util import io


def run_cli(argv, capsys):
    """(exit code, stdout, stderr) of ``drpo-analysis ARGV`` run in-process; an exception other
    than SystemExit propagates (a traceback is a failure)."""
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def paths(tmp_path):
    f = tmp_path / "a_file"
    f.write_text("keep me\n")
    d = tmp_path / "a_dir"
    d.mkdir()
    return {"FILE": f, "DIR": d, "MISSING": tmp_path / "missing", "PROC": Path("/proc/x"),
            "UNDER_FILE": f / "sub" / "out.json", "RUNS": tmp_path / "runs",
            "REPO_CONFIG": Path(__file__).resolve().parents[1] / "paper_repro"}


# Each command with an unwritable, missing or wrong-kind path: (argv, the path the error must name).
BAD_PATHS = [
    (["rl", "--smoke", "--runs-root", "RUNS", "--out", "PROC"], "PROC"),
    (["rl", "--smoke", "--runs-root", "RUNS", "--out", "FILE"], "FILE"),
    (["rl", "--smoke", "--runs-root", "FILE"], "FILE"),
    (["rl", "--runs-root", "RUNS", "--out", "MISSING", "--resume"], "MISSING"),
    (["rl", "--runs-root", "RUNS", "--out", "DIR", "--resume"], "DIR"),
    (["rl", "--runs-root", "RUNS", "--out", "FILE", "--resume"], "FILE"),
    (["lmrl", "--smoke", "--out", "PROC"], "PROC"),
    (["lmrl", "--smoke", "--out", "FILE"], "FILE"),
    (["lmrl", "--smoke", "--study", "--out", "FILE"], "FILE"),
    (["simulate", "vocab", "--out", "PROC"], "PROC"),
    (["simulate", "vocab", "--out", "DIR"], "DIR"),
    (["simulate", "vocab", "--out", "UNDER_FILE"], "UNDER_FILE"),
    (["simulate", "dynamics", "--out", "PROC"], "PROC"),
    (["simulate", "dynamics", "--sweep", "lr=1", "--out", "DIR"], "DIR"),
    (["audit", "drpo.same_geometry", "--out", "PROC"], "PROC"),
    (["audit", "drpo.same_geometry", "--out", "DIR"], "DIR"),
    (["figures", "weights", "--out", "PROC"], "PROC"),
    (["figures", "weights", "--out", "FILE"], "FILE"),
    (["fuzz", "--conformance", "--out", "PROC"], "PROC"),
    (["fuzz", "--conformance", "--out", "DIR"], "DIR"),
    (["fuzz", "MISSING", "--method", "pg_is"], "MISSING"),
    (["prove", "--dir", "MISSING"], "MISSING"),
    (["prove", "--dir", "FILE"], "FILE"),
    (["demo", "--out", "PROC"], "PROC"),
    (["demo", "--out", "FILE"], "FILE"),
    (["repro", "--config-dir", "MISSING"], "MISSING"),
    (["repro", "--config-dir", "DIR"], "DIR"),
    (["repro", "--config-dir", "REPO_CONFIG", "--phase", "report", "--results", "FILE"], "FILE"),
    (["repro", "--config-dir", "REPO_CONFIG", "--phase", "report", "--results", "DIR", "--report", "PROC"], "PROC"),
    (["rollouts", "--out", "PROC"], "PROC"),
    (["rollouts", "--out", "FILE"], "FILE"),
    (["rollouts", "--summary", "PROC"], "PROC"),
    (["diagnose", "MISSING"], "MISSING"),
    (["diagnose", "FILE", "--report", "PROC"], "PROC"),
]


@pytest.mark.parametrize("argv, named", BAD_PATHS, ids=[" ".join(a) for a, _ in BAD_PATHS])
def test_bad_paths_are_one_line_usage_errors(argv, named, paths, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    if argv[0] == "fuzz" and argv[1] == "MISSING":
        argv = ["fuzz", f"{paths['MISSING']}.py:loss", *argv[2:]]
    before = paths["FILE"].read_bytes()
    rc, out, err = run_cli([str(paths.get(a, a)) for a in argv], capsys)
    assert rc == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert str(paths[named]) in err
    assert paths["FILE"].read_bytes() == before and not (paths["DIR"] / "x").exists()


def test_every_command_with_a_path_option_is_driven_above():
    """A command that takes a path must have its bad-path cases in BAD_PATHS."""
    import argparse

    covered = {argv[0] for argv, _ in BAD_PATHS}
    for name in cli.COMMANDS:
        sub = next(a for a in cli.build_parser(only=name)._actions if isinstance(a, argparse._SubParsersAction))
        flags = {f for _, a in _options(sub.choices[name]) for f in a.option_strings}
        if flags & {"--out", "--dir", "--config-dir", "--results", "--report", "--runs-root"}:
            assert name in covered, f"{name} takes a path but BAD_PATHS does not drive it"


# ---- atomic writes ---------------------------------------------------------------------------------
def test_atomic_write_replaces_whole_files_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "deep" / "er" / "x.json"
    io.write_json(p, {"a": 1})
    io.write_json(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2} and [q.name for q in p.parent.iterdir()] == ["x.json"]
    assert p.stat().st_mode & 0o777 == 0o666 & ~io._UMASK   # as open() would create it, not 0600
    p.chmod(0o640)
    io.write_json(p, {"a": 2})
    assert p.stat().st_mode & 0o777 == 0o640                # a replaced file keeps its mode

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with io.atomic_open(p) as f:
            f.write("half")
            raise Boom
    assert json.loads(p.read_text()) == {"a": 2} and [q.name for q in p.parent.iterdir()] == ["x.json"]


def test_path_errors_name_path_and_reason(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    for call, path, reason in [(io.writable_file, tmp_path, "is a directory, expected a file"),
                               (io.writable_dir, f, "is a file, expected a directory"),
                               (io.writable_file, f / "x", f"{f} is a file, expected a directory"),
                               (io.readable_file, tmp_path / "no", "no such file"),
                               (io.writable_file, "/proc/x", "cannot create files in /proc")]:
        with pytest.raises(io.PathError) as exc:
            call(path)
        assert str(exc.value).startswith(f"{path}: ") and reason in str(exc.value)


# ---- torn JSON lines -----------------------------------------------------------------------------
RECORDS = [{"step": i, "reward/mean": i / 3, "label": "μ≤0.01", "curve": [0.5 * i, None, -1e-300]}
           for i in range(4)]


def _cut_everywhere():
    """(file bytes with the last line cut after k bytes, k, length of the full last line)."""
    lines = [(json.dumps(r) + "\n").encode() for r in RECORDS]
    head, last = b"".join(lines[:-1]), lines[-1]
    for k in range(len(last) + 1):
        yield head + last[:k], k, len(last)


def test_torn_last_line_is_dropped_and_appending_restores_the_file_exactly(tmp_path):
    """Cut at every byte of the last line: the finished records are read, the torn one is reported
    and dropped, and appending what was not finished gives back the uncut file."""
    full = b"".join((json.dumps(r) + "\n").encode() for r in RECORDS)
    p = tmp_path / "m.jsonl"
    for data, k, n in _cut_everywhere():
        p.write_bytes(data)
        finished = k >= n - 1          # the whole JSON object is there (the newline may be missing)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            got = io.read_jsonl(p)
        torn = 0 < k < n - 1
        assert got == (RECORDS if finished else RECORDS[:-1]), k
        assert [w.category for w in seen] == ([io.TornLineWarning] if torn else []), k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", io.TornLineWarning)
            for r in RECORDS[len(got):]:
                io.append_jsonl(p, r)
            if finished and k == n - 1:
                io.read_jsonl(p, repair=True)   # a finished line missing its newline gets one
        assert p.read_bytes() == full, k


def test_a_bad_line_before_the_last_is_an_error_naming_file_and_line(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
    with pytest.raises(io.PathError, match=r"m\.jsonl: line 2 is not a JSON object"):
        io.read_jsonl(p)


def test_sweep_resumes_after_a_torn_line_without_losing_or_repeating_points(tmp_path, monkeypatch):
    from drpo_analysis.sim import dynamics as sd
    from drpo_analysis.sim.vocab import Vocabulary

    base = sd.DynamicsSettings(methods=("pg_is",), seeds=1, prompts=2, length=2, group=2,
                               vocab=Vocabulary(V=16), steps=2, updates=1)
    points = sd.grid({"lr": [1.0, 2.0]})
    out = tmp_path / "s.jsonl"
    sd.sweep(base, points, out)
    full = out.read_bytes()
    last = full[:-1].rfind(b"\n") + 1
    calls = []
    real_run = sd.run
    monkeypatch.setattr(sd, "run", lambda s, **kw: calls.append(s.lr) or real_run(s, **kw))
    for cut in (last + 1, (last + len(full)) // 2, len(full) - 2, len(full) - 1):
        out.write_bytes(full[:cut])
        calls.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", io.TornLineWarning)
            sd.sweep(base, points, out)
        assert out.read_bytes() == full, cut
        assert calls == ([] if cut == len(full) - 1 else [2.0]), cut


# ---- rl --resume ---------------------------------------------------------------------------------
def _snapshot(folder: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def _metrics(folder):
    from drpo_analysis.rl import trainer
    return [{k: v for k, v in r.items() if not k.startswith("perf/")}
            for r in trainer.read_metrics(folder / "metrics.jsonl")]


@pytest.fixture(scope="module")
def rl_runs(tmp_path_factory):
    """A tiny config (non-default lr and seed), run whole and killed after 3 of 4 steps."""
    import torch

    from drpo_analysis.rl import trainer

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("rl")
    cfg = trainer.smoke_config(steps=4, eval_size=16, ckpt_every=2, lr=2e-3, seed=1)
    trainer.run(cfg, tmp / "full", root=str(tmp / "runs"), progress=False)
    return tmp, cfg


def test_resume_takes_the_configuration_from_the_run_folder(rl_runs, tmp_path, capsys):
    from drpo_analysis.rl import trainer

    tmp, cfg = rl_runs
    out = tmp_path / "cut"
    trainer.run(cfg, out, root=str(tmp / "runs"), progress=False, stop_after=3)
    # torn last metrics line (a kill mid-write): reported, dropped, the step replayed
    m = out / "metrics.jsonl"
    m.write_bytes(m.read_bytes()[:-7])
    # options that disagree: exit 2 naming each differing field, nothing in the folder touched
    before = _snapshot(out)
    rc, _, err = run_cli(["rl", "--out", out, "--resume", "--runs-root", tmp / "runs", "--lr", "0.5",
                          "--seed", "1", "--mismatch", "noise:0.2+bf16"], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "lr: recorded 0.002, requested 0.5" in err and "seed" not in err and "mismatch" not in err
    rc, _, err = run_cli(["rl", "--out", out, "--resume", "--runs-root", tmp / "runs", "--smoke"], capsys)
    assert rc == 2 and "eval_size: recorded 16, requested 64" in err and "steps: recorded 4, requested 6" in err
    assert _snapshot(out) == before
    # no options: the recorded configuration, resumed bitwise
    with pytest.warns(io.TornLineWarning, match="metrics.jsonl: dropped a torn last line"):
        rc, stdout, err = run_cli(["rl", "--out", out, "--resume", "--runs-root", tmp / "runs", "--json"], capsys)
    assert rc == 0, err
    assert json.loads(stdout)["config"] == json.loads(json.dumps(cfg.as_dict()))
    assert _metrics(out) == _metrics(tmp / "full")


def test_resume_without_checkpoint_restarts_the_recorded_configuration(rl_runs, tmp_path, capsys):
    tmp, cfg = rl_runs
    out = tmp_path / "warm"   # killed during the warm start: config.json only, maybe a torn line
    io.write_json(out / "config.json", cfg.as_dict(), indent=1, default=str)
    (out / "metrics.jsonl").write_text('{"step": 0, "rew')
    rc, _, err = run_cli(["rl", "--out", out, "--resume", "--runs-root", tmp / "runs"], capsys)
    assert rc == 0, err
    assert _metrics(out) == _metrics(tmp / "full")


def test_a_run_folder_is_not_overwritten_without_resume(rl_runs, capsys):
    tmp, _ = rl_runs
    before = _snapshot(tmp / "full")
    rc, _, err = run_cli(["rl", "--smoke", "--out", tmp / "full", "--runs-root", tmp / "runs"], capsys)
    assert rc == 2 and "already holds a run; pass --resume" in err and _snapshot(tmp / "full") == before


# ---- lmrl --resume (the same run-folder checks as rl) ---------------------------------------------
LMRL = ["lmrl", "--smoke", "--warmup-steps", "20", "--steps", "4", "--ckpt-every", "2", "--lr", "2e-4",
        "--seed", "1", "--threads", "1"]


@pytest.fixture(scope="module")
def lmrl_runs(tmp_path_factory):
    """A tiny-model run (non-default lr and seed) through the CLI, whole; its recorded configuration."""
    import torch

    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("lmrl")
    assert cli.main([*LMRL, "--json", "--out", str(tmp / "full")]) == 0
    return tmp, json.loads((tmp / "full" / "config.json").read_text())


def test_lmrl_resume_takes_the_configuration_from_the_run_folder(lmrl_runs, tmp_path, capsys):
    from drpo_analysis.cli.commands import lmrl
    from drpo_analysis.rl import lm_grpo

    tmp, recorded = lmrl_runs
    capsys.readouterr()
    cfg = lm_grpo.LMConfig(**recorded)
    out = tmp_path / "cut"
    assert lm_grpo.run(cfg, out, lmrl.model_builder(cfg), progress=False, stop_after=3)["status"] == "partial"
    m = out / "metrics.jsonl"
    m.write_bytes(m.read_bytes()[:-7])   # a kill mid-write
    before = _snapshot(out)
    rc, _, err = run_cli(["lmrl", "--out", out, "--resume", "--lr", "0.5", "--seed", "1", "--steps", "9",
                          "--mismatch", "bf16+stale=0"], capsys)
    assert rc == 2 and err.count("\n") == 1
    assert "lr: recorded 0.0002, requested 0.5" in err and "steps: recorded 4, requested 9" in err
    assert "seed" not in err and "mismatch" not in err
    rc, _, err = run_cli(["lmrl", "--out", out, "--resume", "--smoke"], capsys)   # the preset's values count
    assert rc == 2 and "steps: recorded 4, requested 3" in err and "warmup_steps: recorded 20, requested 150" in err
    assert _snapshot(out) == before
    with pytest.warns(io.TornLineWarning, match="metrics.jsonl: dropped a torn last line"):
        rc, stdout, err = run_cli(["lmrl", "--out", out, "--resume", "--json", "--threads", "1"], capsys)
    assert rc == 0, err
    assert json.loads(stdout)["config"] == recorded
    assert _metrics(out) == _metrics(tmp / "full")


def test_lmrl_resume_without_checkpoint_restarts_the_recorded_configuration(lmrl_runs, tmp_path, capsys):
    tmp, recorded = lmrl_runs
    out = tmp_path / "warm"   # killed during the warm start: config.json only, maybe a torn line
    io.write_json(out / "config.json", recorded, indent=1)
    (out / "metrics.jsonl").write_text('{"step": 0, "rew')
    rc, _, err = run_cli(["lmrl", "--out", out, "--resume", "--threads", "1"], capsys)
    assert rc == 0, err
    assert _metrics(out) == _metrics(tmp / "full")


def test_lmrl_run_folder_is_not_overwritten_without_resume(lmrl_runs, tmp_path, capsys):
    tmp, _ = lmrl_runs
    before = _snapshot(tmp / "full")
    rc, _, err = run_cli([*LMRL, "--out", tmp / "full"], capsys)
    assert rc == 2 and "already holds a run; pass --resume" in err and _snapshot(tmp / "full") == before
    rc, _, err = run_cli(["lmrl", "--out", tmp_path, "--resume"], capsys)
    assert rc == 2 and "no config.json" in err


# ---- --help --------------------------------------------------------------------------------------
def _options(parser, prefix=()):
    import argparse
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _options(sub, (*prefix, name))
        elif a.dest != "help":
            yield prefix, a


def test_every_option_shows_its_default():
    fmt = cli.HelpFormatter("drpo-analysis")
    missing = [(" ".join(p), a.option_strings or a.dest) for p, a in _options(cli.build_parser())
               if "default" not in fmt._get_help_string(a).lower()]
    assert not missing


# ---- unknown names -------------------------------------------------------------------------------
UNKNOWN = [
    (["demo", "--skip", "bogus"], "choose from 'methods', 'prove'"),
    (["fuzz", "TARGET", "--method", "pg_is", "--option", "bogus=1"], "accepted: agg, clamp_scope, compare_value"),
    (["fuzz", "TARGET", "--method", "pg_is", "--check", "bogus"], "known: gradient, on_policy"),
    (["rl", "--bogus", "1"], "accepted options: --adv-eps, --agg"),
    (["rl", "--param", "bogus=1"], "accepted: ['delta']"),
    (["simulate", "vocab", "--mismatch", "bf16+bogus"], "accepted: none | bf16 | fp16"),
    (["simulate", "dynamics", "--sweep", "bogus=1"], "accepted: ['group', 'hard_frac'"),
    (["simulate", "dynamics", "--method", "bogus"], "known: pg_is, cispo"),
    (["figures", "bogus"], "available: ["),
    (["audit", "bogus"], "known: "),
    (["prove", "bogus"], "known: "),
    (["methods", "bogus"], "known: pg_is"),
    (["bench", "--only", "bogus"], "'fuzz_examples_per_s',"),
    (["repro", "--config-dir", "REPO_CONFIG", "--groups", "bogus", "--phase", "report"], "matrix.json has ["),
]


@pytest.mark.parametrize("argv, accepted", UNKNOWN, ids=[" ".join(a) for a, _ in UNKNOWN])
def test_unknown_names_are_usage_errors_listing_what_is_accepted(argv, accepted, paths, capsys, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "loss.py"
    target.write_text("def loss(logp, logp_mu, adv, mask, **kw):\n    return (adv * logp).sum()\n")
    subst = {"TARGET": f"{target}:loss", "REPO_CONFIG": str(paths["REPO_CONFIG"])}
    rc, _, err = run_cli([subst.get(a, a) for a in argv], capsys)
    assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "bogus" in err and accepted in err, err
