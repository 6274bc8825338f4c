# The task runner. `make run` and `make test` set everything up on a bare machine
# (python3, pip, make, a C/C++ compiler): a virtual environment in .venv with the
# package and its extras, including llama-cpp-python built from source (a few minutes, once).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    := runs/seeds.local

.PHONY: install run eval test test-fast lint bench record clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job: the embedded default model over the five seed articles, then the scoreboard.
run: install
	$(BIN)/extract run gold/articles --backend local --out $(RUN).jsonl --overwrite --allow-failures
	$(BIN)/extract eval --gold gold --pred $(RUN).jsonl --json $(RUN).eval.json --report $(RUN).eval.md

# The eval suites under evals/ (offline: recorded responses), with their gates.
eval: install
	$(BIN)/extract eval --suite evals/seed-replay.toml

# Lint, types, the layer contract, then the test suite (which includes the eval suites' gates).
test: install lint
	$(BIN)/pytest

test-fast: install
	$(BIN)/pytest -m "not slow"

lint: install
	$(BIN)/ruff check extract tests benchmarks
	$(BIN)/ruff format --check extract tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/run_all.py

# Re-record the responses the offline eval suite replays (after a prompt or schema change).
record: install
	rm -rf evals/recordings/seed-gemma-270m
	$(BIN)/extract run gold/articles --backend local --record evals/recordings/seed-gemma-270m \
		--out runs/record.jsonl --overwrite --allow-failures

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
