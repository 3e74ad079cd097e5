"""A lazy Qt table over a ReviewSession: rows are fetched a page at a time as the view
scrolls (canFetchMore/fetchMore), so 500,000 pairs open as fast as 50."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from ..core.review import PairRow, ReviewSession

HEADERS = ("Score", "Duplicate?", "Question A", "Question B", "Label")
LABEL_COLOURS = {"accepted": "#d7f5dd", "rejected": "#f8d7da", "unsure": "#fff3cd"}
PAGE = 500
_ROOT = QModelIndex()  # the invisible root: Qt's default parent


class PairTableModel(QAbstractTableModel):
    def __init__(self, review: ReviewSession | None = None, parent=None):
        super().__init__(parent)
        self.review = review
        self.rows: list[PairRow] = []
        self.total = 0
        self.reload()

    def reload(self, rows: list[PairRow] | None = None, total: int | None = None) -> None:
        """Show the review's pairs from the top; ``rows`` and ``total``: the first page and the
        count, when they were read already (off the UI thread, ``ReviewSession.first_view``)."""
        self.beginResetModel()
        self.rows = list(rows or [])
        if total is None:
            total = self.review.count() if self.review else 0
        self.total = total
        self.endResetModel()
        if not self.rows and self.canFetchMore(QModelIndex()):
            self.fetchMore(QModelIndex())

    def set_review(self, review: ReviewSession | None, rows: list[PairRow] | None = None,
                   total: int | None = None) -> None:
        self.review = review
        self.reload(rows, total)

    # Qt's lazy loading protocol
    def canFetchMore(self, parent=_ROOT) -> bool:
        return not parent.isValid() and len(self.rows) < self.total

    def fetchMore(self, parent=_ROOT) -> None:
        start = len(self.rows)
        page = self.review.page(start, min(PAGE, self.total - start),
                                after=self.rows[-1] if self.rows else None)
        if not page:
            self.total = start
            return
        self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
        self.rows.extend(page)
        self.endInsertRows()

    def rowCount(self, parent=_ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=_ROOT) -> int:
        return len(HEADERS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if role != Qt.DisplayRole:
            return None
        return HEADERS[section] if orientation == Qt.Horizontal else str(section + 1)

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role in (Qt.DisplayRole, Qt.ToolTipRole):
            return row.cells[index.column()]
        if role == Qt.BackgroundRole and row.pair.label in LABEL_COLOURS:
            return QBrush(QColor(LABEL_COLOURS[row.pair.label]))
        return None

    def sort(self, column: int, order=Qt.DescendingOrder) -> None:
        """Header clicks sort in SQL, so sorting 500,000 pairs costs one query."""
        if self.review is None:
            return
        self.review.sort_by_column(column, order == Qt.DescendingOrder)
        self.reload()

    def row_at(self, index: int) -> PairRow | None:
        return self.rows[index] if 0 <= index < len(self.rows) else None

    def refresh_row(self, index: int) -> None:
        self.dataChanged.emit(self.index(index, 0), self.index(index, len(HEADERS) - 1))
