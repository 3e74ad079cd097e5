"""Where the files that ship with the app live: the sample, the models, the icon.

From a source checkout that is ``<repo>/resources``; inside the PyInstaller bundle the same
``resources`` folder sits next to the package (``build.spec`` puts it there), so one relative
path serves both.
"""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SAMPLE_QUESTIONS = RESOURCES / "sample_questions.csv"
ICON = RESOURCES / "icons" / "quoradesk.png"
SHIPPED_SPARSE = RESOURCES / "models" / "splade-quora"  # BERT-tiny SPLADE: the fast choice
SHIPPED_SPARSE_MINILM = RESOURCES / "models" / "splade-minilm-quora"  # MiniLM SPLADE: accurate
# Four of the accurate SPLADE's six layers, distilled from it: the default, twice its speed at
# nearly its accuracy
SHIPPED_SPARSE_DISTILLED = RESOURCES / "models" / "splade-minilm-l4-quora"
SHIPPED_CROSS = RESOURCES / "models" / "cross-quora"  # the CrossEncoder: the accurate reranker, the teacher
# Four of its six layers, distilled from it: the default reranker, 1.5x its pairs a second
SHIPPED_CROSS_DISTILLED = RESOURCES / "models" / "cross-quora-l4"


def user_data_dir() -> Path:
    """Where the app keeps the user's files it makes itself (the sample's project)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "quoradesk"


def user_cache_dir() -> Path:
    """Where the app keeps what it can make again (int8 rerankers); $QUORADESK_CACHE wins."""
    if os.environ.get("QUORADESK_CACHE"):
        return Path(os.environ["QUORADESK_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "quoradesk"
