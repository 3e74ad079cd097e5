# One command each on a fresh machine: `make run` (the app on the bundled sample) and
# `make test`. Both create .venv and install everything the first time.
# `make demo` is the same job headless (the CLI on the sample).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The optional cluster packages (Ray, Milvus Lite): the tests use them, the app does not.
CLUSTER_STAMP := $(VENV)/.cluster-stamp

.PHONY: run demo test lint bench screenshots package install-desktop clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU wheel first: an unpinned resolve would pull a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(CLUSTER_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,cluster]'
	touch $(CLUSTER_STAMP)

run: $(STAMP)
	$(BIN)/quoradesk gui --sample

demo: $(STAMP)
	$(BIN)/quoradesk demo

test: $(CLUSTER_STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -m "not slow" -q

lint: $(STAMP)
	$(BIN)/ruff check quoradesk tests bench scripts

bench: $(STAMP)
	$(BIN)/python bench/mine.py
	$(BIN)/python bench/models.py

# The double-clickable bundle: dist/quoradesk/quoradesk (see build.spec; CPU torch only).
package: $(STAMP)
	$(BIN)/pip install --quiet -e '.[package]'
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
