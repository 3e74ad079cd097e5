"""The window checks a project as it opens it: a damaged one gets a banner with Repair, which
recovers it into a new project (labels included) and opens that."""

from __future__ import annotations

import damaged_projects
import pytest
from damaged_projects import damaged_copy, labels_by_text

from quoradesk.core.store import check_project


@pytest.fixture(scope="module")
def labelled_project(tmp_path_factory):
    return damaged_projects.labelled_project(tmp_path_factory.mktemp("health"))


def test_a_damaged_project_is_said_and_repaired_from_the_window(qtbot, window, labelled_project, tmp_path):
    db, labels = labelled_project
    assert window.open_project(db)  # healthy: no banner
    qtbot.waitUntil(lambda: not window.checks, timeout=60000)
    assert not window.banner_box.isVisible()

    bad = damaged_copy(db, tmp_path / "bad.sqlite", "zeroed page", 5)
    assert not check_project(bad).healthy
    window.open_project(bad)  # opens (its first page is fine) or not: either way the check says so
    qtbot.waitUntil(lambda: window.banner_repair.isVisible(), timeout=60000)
    assert "damaged" in window.banner.text() and "bad.sqlite" in window.banner.text()

    out = tmp_path / "recovered.sqlite"
    window.repair_to(window.damaged, out)
    qtbot.waitUntil(lambda: window.store is not None and window.store.path == out, timeout=120000)
    assert not window.banner_repair.isVisible()
    assert labels_by_text(out) == labels
    assert "rows recovered" in window.statusBar().currentMessage()
