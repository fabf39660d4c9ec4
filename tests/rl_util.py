"""One smoke step of the RL trainer on a registered method (shared by the registry tests)."""
import torch

from drpo_analysis.rl import trainer


def smoke_rows(method: str, tmp_path) -> list[dict]:
    """The metrics rows of a one-step smoke run of ``method`` (a tiny model runs fastest on one thread)."""
    cfg = trainer.smoke_config(method=method, steps=1, eval_size=16)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.run(cfg, tmp_path / "run", root=str(tmp_path / "root"), progress=False)
    finally:
        torch.set_num_threads(threads)
    return trainer.read_metrics(tmp_path / "run" / "metrics.jsonl")
