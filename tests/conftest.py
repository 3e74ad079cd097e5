"""Shared fixtures: the real SPLADE model, labelled pairs the project owns (``owned_data``)
and, for the tests that need Quora's labels, the real Quora dev data.

The Quora data is not part of the project: a clone without it skips the tests that need it,
with one reason; ``QUORADESK_REQUIRE_DATA=1`` (set by ``.ci/run``) makes its absence an error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from owned_data import write_pairs

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display in CI

REPO = Path(__file__).resolve().parents[1]
DEV_TSV = Path(os.environ.get("QUORADESK_DEV_TSV", REPO.parent / "shared" / "data" / "quora" / "dev.tsv"))


@pytest.fixture(scope="session", autouse=True)
def app_cache(tmp_path_factory) -> Path:
    """The app's cache (int8 rerankers) in a folder of this test session, not the user's;
    set in the environment so the CLI processes the tests start use it too."""
    path = tmp_path_factory.mktemp("cache")
    os.environ["QUORADESK_CACHE"] = str(path)
    return path


MISSING_DATA = (f"needs the Quora labelled pairs (dev.tsv), not found at {DEV_TSV}: "
                "set QUORADESK_DEV_TSV to that file to run these tests")


@pytest.fixture(scope="session")
def dev_tsv() -> Path:
    """The Quora dev pairs, for tests whose assertions rest on Quora's labels."""
    if not DEV_TSV.is_file():
        if os.environ.get("QUORADESK_REQUIRE_DATA") == "1":
            pytest.fail(f"QUORADESK_REQUIRE_DATA=1 and the test {MISSING_DATA}")
        pytest.skip(MISSING_DATA)
    return DEV_TSV


@pytest.fixture(scope="session")
def dev_lines(dev_tsv) -> list[str]:
    return dev_tsv.read_text(encoding="utf-8", errors="replace").splitlines()


@pytest.fixture
def dev_slice(tmp_path, dev_lines):
    """Write the first n dev pairs (a real 4-column split file) and return its path."""

    def make(n: int, start: int = 0) -> Path:
        path = tmp_path / f"dev_{start}_{n}.tsv"
        path.write_text("\n".join(dev_lines[start : start + n]) + "\n", encoding="utf-8")
        return path

    return make


@pytest.fixture
def pair_slice(tmp_path):
    """Like ``dev_slice``, on the project's own pairs: runs without the Quora data."""
    return lambda n, start=0: write_pairs(tmp_path / f"pairs_{start}_{n}.tsv", n, start)


@pytest.fixture(scope="session")
def splade_path():
    """The fast shipped SPLADE (BERT-tiny): mining mechanics are tested on it, at 5x the
    questions a second. The default (accurate) one is what the CLI, GUI, Ask and bundle tests
    mine with, and test_training checks both load offline and rank."""
    from quoradesk.core import models

    return models.sparse_model_path("fast")


@pytest.fixture(scope="session")
def sample_with_gold(tmp_path_factory):
    """The bundled sample mined with the shipped defaults (accurate SPLADE, reranked: calibrated),
    and its known duplicate pairs as question ids. Tests copy the file before writing to it."""
    from quoradesk.core import models
    from quoradesk.core.mining import MiningJob
    from quoradesk.core.questions import load_questions
    from quoradesk.core.resources import SAMPLE_QUESTIONS
    from quoradesk.core.store import Store
    from quoradesk.selftest import sample_gold_pairs

    db = tmp_path_factory.mktemp("sample-mined") / "p.sqlite"
    with Store(db) as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        list(MiningJob(store, sparse_model=models.SHIPPED_SPARSE, reranker=models.SHIPPED_CROSS, device="cpu").run())
        ids = store._ids_for_texts(q.text for q in load_questions(SAMPLE_QUESTIONS).questions)
    gold = {tuple(sorted((ids[a], ids[b]))) for a, b in sample_gold_pairs(SAMPLE_QUESTIONS)}
    return db, gold


@pytest.fixture(scope="session")
def encoder(splade_path):
    from quoradesk.core import models

    return models.load_sparse_encoder(splade_path, "cpu")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """The app's settings and data folder in this test's own folder (a first run)."""
    from PySide6.QtCore import QSettings

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    """The real main window, shown offscreen, closed after the test."""
    from quoradesk.gui.main_window import MainWindow

    w = MainWindow(settings)
    qtbot.addWidget(w)
    w.show()
    yield w
    w.close()
