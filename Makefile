# Two entry points: `make run` builds the node artifacts into dist/, `make test` runs every check.
# Both set up what they need first (system packages as root, the virtual environment).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test setup system-deps test-deps lint typecheck pytest bench golden tables clean

run: setup
	$(VENV)/bin/seccompiler build profiles -o dist

test: setup test-deps lint typecheck pytest

setup: system-deps $(STAMP)

# libseccomp is present on the image; install it when it is missing and we may.
system-deps:
	@tools/ensure-system-deps libseccomp2

# runc and bubblewrap are the real consumers the live tests hand our filters to; gcc-multilib
# builds the 32-bit program and gdb is the debugger the default profile must keep working.
# clang with Debian's aarch64 and armhf C libraries and binutils cross-builds native/ (Debian's
# gcc-aarch64-linux-gnu and gcc-arm-linux-gnueabihf conflict with gcc-multilib); qemu-user runs
# the cross-built probes' self-check.
CROSS_DEPS := clang binutils-aarch64-linux-gnu binutils-arm-linux-gnueabihf \
	libc6-dev-arm64-cross libc6-dev-armhf-cross libgcc-12-dev-arm64-cross \
	libgcc-12-dev-armhf-cross qemu-user
test-deps:
	@tools/ensure-system-deps runc bubblewrap busybox-static strace gcc-multilib gdb $(CROSS_DEPS)

$(STAMP): pyproject.toml setup.py native/build.py $(wildcard native/*.c native/*.h)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) native/build.py
	touch $(STAMP)

lint:
	$(VENV)/bin/ruff check seccompiler tests tools bench native setup.py
	$(VENV)/bin/ruff format --check seccompiler tests tools bench native setup.py

typecheck:
	$(VENV)/bin/mypy

# One worker per core: the suite is mostly independent processes (CLI runs, probes, runc).
pytest:
	$(VENV)/bin/pytest -q -n auto

bench: setup test-deps
	$(PY) bench/run.py

golden: setup
	$(PY) tools/regen_golden.py

tables: setup
	$(PY) tools/gen_tables.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
