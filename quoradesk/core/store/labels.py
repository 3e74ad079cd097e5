"""Labels of reviewed pairs with their undo history (``Store``'s)."""

from __future__ import annotations

import time

from .writes import _writes

LABELS = ("accepted", "rejected", "unsure")


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
        if record and old != label:
            self.db["label_history"].insert(
                {"a": a, "b": b, "old": old, "new": label, "time": time.time()}
            )

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
