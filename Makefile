# The task runner. `make run` and `make test` set everything up on a bare machine
# (python3, pip, make, a C/C++ compiler): a virtual environment in .venv with the
# package and its extras, including llama-cpp-python built from source (a few minutes, once).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
RUN    := runs/seeds.local

# llama.cpp is native code, and the machine that builds it is not the machine that runs it
# (a user's laptop, a cloud VM, CI). By default it is built for an instruction set that every
# x86-64 machine of the last decade has (AVX2, FMA, F16C), never for the build machine's CPU:
# a -march=native build on a CPU that reports AMX or AVX-512 crashes where the host forbids them.
# `make install LLAMA_NATIVE=1` builds for this machine's CPU instead (can be faster; not portable).
LLAMA_VERSION := 0.3.36
ARCH          := $(shell uname -m)
ifeq ($(LLAMA_NATIVE),1)
LLAMA_CMAKE   := -DGGML_NATIVE=ON
LLAMA_VARIANT := native-$(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | sha256sum | cut -c1-12)
else ifeq ($(ARCH),x86_64)
LLAMA_CMAKE   := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
LLAMA_VARIANT := portable-x86-64-avx2
else
LLAMA_CMAKE   := -DGGML_NATIVE=OFF
LLAMA_VARIANT := portable-$(ARCH)
endif
# The wheel is built into the project's own folder, one per variant, and installed from there
# only: pip's shared wheel cache keys a build by its source, not its flags, so a wheel built
# natively before would otherwise be reused.
# The folder's name holds a hash of the build flags, so changing them builds again.
LLAMA_FLAGS_HASH := $(shell printf '%s' '$(LLAMA_CMAKE)' | sha256sum | cut -c1-8)
WHEELS := .cache/wheels/llama-cpp-python-$(LLAMA_VERSION)-$(LLAMA_VARIANT)-$(LLAMA_FLAGS_HASH)
STAMP  := $(VENV)/.installed-$(LLAMA_VARIANT)

.PHONY: install install-train run eval test test-fast lint bench bench-native doctor record clean browser review

install: $(STAMP)

# Training (extract train) needs torch, transformers and peft: never part of make install or make run.
# TORCH_SPEC names the torch to install first. A plain torch from PyPI on x86-64 Linux is a CUDA build of
# several GB; where a CPU build is at hand (a local wheel, or your own index), point TORCH_SPEC or pip at it.
TORCH_SPEC  ?= torch==2.13.0
TRAIN_STAMP := $(VENV)/.installed-train
install-train: $(TRAIN_STAMP)

$(TRAIN_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet '$(TORCH_SPEC)'
	$(BIN)/python -m pip install --quiet --only-binary llama-cpp-python --find-links $(WHEELS) -e '.[dev,ray,train]'
	touch $@

$(WHEELS)/.built:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "building llama-cpp-python $(LLAMA_VERSION) ($(LLAMA_VARIANT)): a few minutes, once"
	rm -rf $(WHEELS) && mkdir -p $(WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 2) \
		$(BIN)/python -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
		-w $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	touch $@

$(STAMP): pyproject.toml $(WHEELS)/.built
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed*
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps --only-binary llama-cpp-python \
		--find-links $(WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install --quiet --only-binary llama-cpp-python --find-links $(WHEELS) -e '.[dev,ray]'
	touch $(STAMP)

# The main job: the embedded default model over the five seed articles, then the scoreboard.
run: install
	$(BIN)/extract run gold/articles --backend local --out $(RUN).jsonl --overwrite --allow-failures
	$(BIN)/extract eval --gold gold --pred $(RUN).jsonl --json $(RUN).eval.json --report $(RUN).eval.md
	$(MAKE) --no-print-directory review

# The review site of the seed run: the article with its evidence highlighted, the gold diff per field.
review: install
	$(BIN)/extract review $(RUN).jsonl --gold gold --out $(RUN).review
	@echo "open $(abspath $(RUN).review/index.html) in a browser"

# The eval suites under evals/ (offline: recorded responses), with their gates.
eval: install
	$(BIN)/extract eval --suite evals/seed-replay.toml

# Lint, types, the layer contract, then the test suite (which includes the eval suites' gates and a
# tiny training run, so it installs the train extra).
test: install install-train lint browser
	EXTRACT_CHROMIUM=$(CHROMIUM) $(BIN)/pytest

# The review site's tests drive headless Chromium. Playwright cannot download its own browser
# here, so they use the system's: Debian's chromium package, installed when it is missing.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "No $(CHROMIUM) and no apt-get: install Chromium with your package manager and run"; \
		echo "make test CHROMIUM=/path/to/chromium; or run the other tests alone: $(BIN)/pytest -m 'not browser'"; \
		exit 1; \
	fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "$(CHROMIUM) is missing: run  sudo apt-get install -y chromium chromium-driver  (or make browser as root)"; \
		exit 1; \
	fi; \
	echo "installing Chromium for the browser tests (apt-get)"; \
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver

test-fast: install
	$(BIN)/pytest -m "not slow"

lint: install install-train
	$(BIN)/ruff check extract tests benchmarks
	$(BIN)/ruff format --check extract tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python benchmarks/run_all.py

# What portability costs here: a native llama.cpp build in .venv-native against the portable one.
bench-native: install
	$(MAKE) install LLAMA_NATIVE=1 VENV=.venv-native
	$(BIN)/python benchmarks/bench_build.py --python $(BIN)/python --python .venv-native/bin/python

# Can this machine run the embedded model? One line.
doctor: install
	$(BIN)/extract doctor

# Re-record the responses the offline eval suite replays (after a prompt or schema change).
record: install
	rm -rf evals/recordings/seed-gemma-270m
	$(BIN)/extract run gold/articles --backend local --record evals/recordings/seed-gemma-270m \
		--out runs/record.jsonl --overwrite --allow-failures

clean:
	rm -rf $(VENV) .venv-native runs .pytest_cache .mypy_cache .ruff_cache

# The prompt-injection set (evals/injection/) through the bundled model: hijacked, flagged, both.
.PHONY: injection
injection: install
	$(BIN)/python evals/injection/measure.py --backend local --json runs/injection.local.json
