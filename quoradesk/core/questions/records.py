"""The records an import produces (questions, rejected rows, what was detected, labelled
pairs) and the limits it applies. ``questions.load_questions`` fills them; everything here is
importable from ``quoradesk.core.questions`` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A question longer than this is almost surely a broken row (a missing quote swallowing the
# file), and would only waste encoder time: such rows are rejected, not truncated.
MAX_QUESTION_CHARS = 5000
# Detection looks at this much of the file; the whole file is parsed afterwards.
SNIFF_BYTES = 64 * 1024
RAW_PREVIEW_CHARS = 200

QUESTION_COLUMN_NAMES = (
    "question", "questions", "text", "query", "title", "sentence", "q", "prompt", "body",
    "question_text", "question1",
)
QUORA_PAIR_HEADERS = (
    ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
    ("test_id", "question1", "question2"),
)
FORMATS = ("csv", "tsv", "txt", "jsonl", "quora-pairs", "quora-split", "xlsx", "parquet")
SHEET_FORMATS = ("xlsx", "parquet")  # read as cells, not decoded text

_WS = re.compile(r"\s+")


class ImportError_(Exception):  # noqa: N801 - avoid shadowing the builtin ImportError
    """The whole file cannot be imported; the message says why, for the user."""


@dataclass
class Question:
    text: str
    sources: list[str] = field(default_factory=list)  # "12" or "12:question2" (line[:column])


@dataclass
class RejectedRow:
    line: int
    reason: str
    raw: str = ""
    entries: int = 1  # question cells lost with this row (2 for a broken pair row)


@dataclass
class Detection:
    format: str
    encoding: str
    delimiter: str | None = None
    has_header: bool = False
    column: str | int | None = None  # header name, or 0-based index without a header
    columns: list[str] = field(default_factory=list)  # the header (or "column 1".. names)
    damaged_lines: list[int] = field(default_factory=list)  # bad bytes replaced by U+FFFD
    sheet: str | None = None  # the workbook's sheet read (.xlsx)
    sheets: list[str] = field(default_factory=list)  # every sheet of the workbook, to pick from


@dataclass
class LabelledPair:
    """A question pair with a duplicate label, from the pair formats (for evaluation/training)."""

    a: int  # index into ImportResult.questions
    b: int
    label: int
    line: int


@dataclass
class ImportResult:
    path: str
    detected: Detection
    questions: list[Question]
    rejected: list[RejectedRow]
    rows_total: int
    merged: int  # entries whose text equalled an earlier one's (kept as an extra source)
    entries: int = 0  # question cells read: rows, or 2 a row in the pair formats
    labelled_pairs: list[LabelledPair] = field(default_factory=list)
    preview: list[list[str]] = field(default_factory=list)  # first rows as parsed

    @property
    def accepted(self) -> int:
        return len(self.questions)

    @property
    def rejected_entries(self) -> int:
        return sum(r.entries for r in self.rejected)

    def summary(self) -> str:
        text = (
            f"{self.rows_total} rows read: {self.accepted} questions, "
            f"{self.merged} merged as exact duplicates, {len(self.rejected)} rows rejected"
        )
        damaged = self.detected.damaged_lines
        if damaged:
            lines = ", ".join(map(str, damaged[:5])) + (", ..." if len(damaged) > 5 else "")
            text += f"; {len(damaged)} lines had invalid {self.detected.encoding} bytes, kept with \ufffd (lines {lines})"
        return text


def normalise(text: str) -> str:
    """Collapse runs of whitespace (newlines included) and strip the ends."""
    return _WS.sub(" ", text).strip()
