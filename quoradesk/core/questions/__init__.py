"""Reading a user's question file: format, encoding, delimiter and column detected, every row
accounted for (a new question, merged into an identical one, or rejected with a reason).

Offers :func:`load_questions` (a file to an :class:`ImportResult`), the records it returns
(:class:`Question`, :class:`RejectedRow`, :class:`Detection`, :class:`LabelledPair`),
:func:`normalise`, :class:`ImportError_` (a file that cannot be read, with a message for the
user) and the limits (:data:`MAX_QUESTION_CHARS`, :data:`FORMATS`).

Modules: ``importing`` (the entry point), ``reading`` (bytes, encodings, formats, headers),
``parsers`` (one parser a format), ``records`` (the records and limits).
"""

from .importing import load_questions
from .records import (
    FORMATS,
    MAX_QUESTION_CHARS,
    QUESTION_COLUMN_NAMES,
    RAW_PREVIEW_CHARS,
    Detection,
    ImportError_,
    ImportResult,
    LabelledPair,
    Question,
    RejectedRow,
    normalise,
)

__all__ = ["FORMATS", "MAX_QUESTION_CHARS", "QUESTION_COLUMN_NAMES", "RAW_PREVIEW_CHARS", "Detection",
           "ImportError_", "ImportResult", "LabelledPair", "Question", "RejectedRow", "load_questions",
           "normalise"]
