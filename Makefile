# One command each on a fresh machine: `make run` (the app on the bundled sample) and
# `make test`. Both create .venv and install everything the first time.
# `make demo` is the same job headless (the CLI on the sample).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Every package the app, the tests and the bundle install, at one exact version with its
# hashes (requirements.lock, made by `make lock`): each machine builds the same app from the
# same commit. pyproject.toml keeps the ranges a library user needs.
LOCK := requirements.lock
UV_VERSION := 0.13.9
# Where pip finds the CPU torch wheel (pip.conf's find-links on these machines): an unpinned
# resolve would pull a multi-GB CUDA build.
TORCH_WHEELS ?= /opt/wheels
UV := $(BIN)/uv
UV_FLAGS := --python $(BIN)/python --find-links $(TORCH_WHEELS)

.PHONY: run demo test test-crash lint bench screenshots package lock install-desktop clean

# One install for the app, the tests (dev, the cluster packages the tests use) and the bundle
# (pyinstaller): all from the lock, hashes checked; then the project itself, without deps.
$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV) pip sync --quiet --require-hashes $(UV_FLAGS) $(LOCK)
	$(UV) pip install --quiet --no-deps $(UV_FLAGS) -e .
	touch $(STAMP)

# The one deliberate way to move a dependency: re-resolve every range of pyproject.toml to
# today's newest versions, then the full test run and a bundle build (with its self-test).
lock: $(STAMP)
	$(UV) pip compile pyproject.toml --extra dev --extra cluster --extra package \
		--python-version 3.11 --find-links $(TORCH_WHEELS) --generate-hashes --upgrade \
		--custom-compile-command "make lock" -o $(LOCK)
	$(MAKE) test package

run: $(STAMP)
	$(BIN)/quoradesk gui --sample

demo: $(STAMP)
	$(BIN)/quoradesk demo

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow and not crash" -q

# Mining killed at a hundred points the run reaches (tests/test_mining_kills.py), each kill
# checked, every run resumed to the uninterrupted result: about 1.5 minutes. CI runs it too.
test-crash: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m crash -q

lint: $(STAMP)
	$(BIN)/ruff check quoradesk tests bench scripts

bench: $(STAMP)
	$(BIN)/python bench/mine.py
	$(BIN)/python bench/models.py

# The double-clickable bundle: dist/quoradesk/quoradesk (see build.spec; CPU torch only).
package: $(STAMP)
	$(BIN)/pyinstaller --noconfirm --clean build.spec
	dist/quoradesk/quoradesk --self-test

# Menu entry and icon for the built bundle (Linux, per user).
install-desktop:
	test -x dist/quoradesk/quoradesk || { echo "build the bundle first: make package"; exit 1; }
	mkdir -p ~/.local/share/applications ~/.local/share/icons/hicolor/256x256/apps
	sed "s|^Exec=quoradesk|Exec=$(CURDIR)/dist/quoradesk/quoradesk|" resources/quoradesk.desktop \
		> ~/.local/share/applications/quoradesk.desktop
	cp resources/icons/quoradesk.png ~/.local/share/icons/hicolor/256x256/apps/quoradesk.png

screenshots: $(STAMP)
	xvfb-run -a -s "-screen 0 1400x900x24" $(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) build dist *.egg-info
