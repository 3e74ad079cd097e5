"""Where the files that ship with the app live: the sample, the models, the icon.

From a source checkout that is ``<repo>/resources``; inside the PyInstaller bundle the same
``resources`` folder sits next to the package (``build.spec`` puts it there), so one relative
path serves both.
"""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
SAMPLE_QUESTIONS = RESOURCES / "sample_questions.csv"
ICON = RESOURCES / "icons" / "quoradesk.png"
SHIPPED_SPARSE = RESOURCES / "models" / "splade-quora"
SHIPPED_CROSS = RESOURCES / "models" / "cross-quora"
