"""Shared fixtures: the real SPLADE model and slices of the real Quora dev data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def dev_tsv() -> Path:
    if not DEV_TSV.is_file():
        pytest.fail(f"The Quora dev data is missing at {DEV_TSV} (set QUORADESK_DEV_TSV)")
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


@pytest.fixture(scope="session")
def splade_path():
    from quoradesk.core import models

    return models.default_sparse_model_path()


@pytest.fixture(scope="session")
def encoder(splade_path):
    from quoradesk.core import models

    return models.load_sparse_encoder(splade_path, "cpu")
