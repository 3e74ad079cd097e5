"""bench/soak.py's random user for 60 seconds in the real window (the bench runs it for 10
minutes): whatever it did, no exception anywhere and a healthy project whose label journal
agrees with it. The work done in 60 s depends on the box; what must hold does not."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from soak import soak  # noqa: E402


def test_a_minute_of_random_use(qapp, tmp_path):
    report = soak(60, seed=3, folder=tmp_path)
    print(f"\n{report}")
    assert report["exceptions"] == []
    assert report["integrity"]["healthy"] and report["integrity"]["journal_agrees"], report["integrity"]
    assert report["actions"] > 0 and report["by_action"].get("import", 0) > 0
