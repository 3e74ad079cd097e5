"""Labels of reviewed pairs with their undo history (``Store``'s), and the label journal.

Every change of a pair's label is also appended to ``<project>.labels.jsonl`` beside the
project, naming both questions by their text: a user's labels are hours of work, and the
journal gives them back even when the project file is damaged or lost whole
(``health.repair_project`` replays it).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .writes import _writes

LABELS = ("accepted", "rejected", "unsure")
log = logging.getLogger(__name__)


def journal_path(project: str | Path) -> Path:
    p = Path(project)
    return p.with_name(p.name + ".labels.jsonl")


def read_journal(path: str | Path) -> Iterator[dict]:
    """The journal's entries in order; a line cut short by a crash is passed over."""
    try:
        fh = open(path, encoding="utf-8")
    except OSError:
        return
    with fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and {"text_a", "text_b", "new"} <= entry.keys():
                yield entry


class LabelsMixin:
    """Store methods over the ``labels`` and ``label_history`` tables."""

    @_writes
    def set_label(self, a: int, b: int, label: str | None, *, record: bool = True) -> None:
        """Label a pair (None clears it); the change goes into the undo history."""
        a, b = (a, b) if a < b else (b, a)
        if label is not None and label not in LABELS:
            raise ValueError(f"label must be one of {LABELS}, not {label!r}")
        old = self.label(a, b)
        if label is None:
            self.db.execute("delete from labels where a = ? and b = ?", [a, b])
        else:
            self.db["labels"].upsert(
                {"a": a, "b": b, "label": label, "updated": time.time()}, pk=("a", "b")
            )
        if old != label:
            if record:
                self.db["label_history"].insert(
                    {"a": a, "b": b, "old": old, "new": label, "time": time.time()}
                )
            self._journal(a, b, old, label)

    def _journal(self, a: int, b: int, old: str | None, new: str | None) -> None:
        texts = dict(self.db.execute("select id, text from questions where id in (?, ?)", [a, b]).fetchall())
        entry = {"time": time.time(), "a": a, "b": b, "text_a": texts.get(a), "text_b": texts.get(b),
                 "old": old, "new": new}
        try:
            with open(journal_path(self.path), "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())  # a label the user saw saved is on disk
        except OSError as exc:  # the label itself is in the project: warn, do not fail it
            log.warning("could not append to the label journal %s: %s", journal_path(self.path), exc)

    def label(self, a: int, b: int) -> str | None:
        a, b = (a, b) if a < b else (b, a)
        row = self.db.execute("select label from labels where a = ? and b = ?", [a, b]).fetchone()
        return row[0] if row else None

    @_writes
    def undo_label(self) -> tuple[int, int] | None:
        """Revert the newest label change; returns its pair, or None when nothing is left."""
        row = self.db.execute(
            "select id, a, b, old from label_history order by id desc limit 1"
        ).fetchone()
        if row is None:
            return None
        hid, a, b, old = row
        self.set_label(a, b, old, record=False)
        self.db.execute("delete from label_history where id = ?", [hid])
        return a, b

    def label_counts(self, ids: list[int]) -> dict[int, dict[str, int]]:
        """For each of ``ids`` with labelled pairs, how many pairs carry each label."""
        ids = [int(i) for i in ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.db.execute(
            f"select q, label, count(*) from (select a as q, label from labels where a in ({marks}) "
            f"union all select b, label from labels where b in ({marks})) group by q, label",
            ids + ids,
        )
        out: dict[int, dict[str, int]] = {}
        for q, label, n in rows:
            out.setdefault(q, {})[label] = n
        return out

    def labels(self) -> dict[tuple[int, int], str]:
        return {(r["a"], r["b"]): r["label"] for r in self.db["labels"].rows}
