"""The Review tab's threshold tools: "Suggest a threshold" for a precision the user types, and
"Check this threshold": a small random sample above and below it to label with the usual keys,
the estimate (precision above, duplicates left below, 90% intervals) updated with each label.
The sampling and the estimate are core.review.ThresholdCheck's; this bar only shows them."""

from __future__ import annotations

from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from ..core.review import ThresholdCheck, run_suggestion


class ThresholdBar(QWidget):
    def __init__(self, tab):
        super().__init__()
        self.tab = tab
        self.check: ThresholdCheck | None = None
        self.precision = QDoubleSpinBox(decimals=0, minimum=50, maximum=99, value=95, suffix="%")
        self.precision.setToolTip("The share of true duplicates you want among the pairs above the threshold")
        self.suggest_button = QPushButton("Suggest a threshold")
        self.suggest_button.setToolTip("The lowest threshold whose pairs, by their duplicate probabilities, reach "
                                       "this precision: the most duplicates kept for it. Check it with a few labels.")
        self.suggest_button.clicked.connect(self.suggest)
        self.size = QSpinBox(minimum=10, maximum=200, value=40)
        self.size.setToolTip("Pairs to label: about two thirds drawn above the threshold, the rest below")
        self.check_button = QPushButton("Check this threshold")
        self.check_button.setToolTip("Label a small random sample of pairs above and below the threshold (A and R "
                                     "as usual): the estimated precision and the duplicates left below, each with "
                                     "a 90% interval, follow every label")
        self.check_button.clicked.connect(self.start_check)
        self.back_button = QPushButton("Back to all pairs")
        self.back_button.clicked.connect(self.stop_check)
        self.back_button.hide()
        self.estimate = QLabel("")
        self.estimate.setWordWrap(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (QLabel("Precision:"), self.precision, self.suggest_button, QLabel("Sample:"), self.size,
                  self.check_button, self.back_button):
            row.addWidget(w)
        row.addWidget(self.estimate, 1)
        tab.labelled.connect(self.update_estimate)

    @property
    def checking(self) -> bool:
        return self.back_button.isVisible()

    def suggest(self) -> None:
        review = self.tab.review
        if review is None:
            return
        t, said = run_suggestion(self.tab.window.store, review.run, self.precision.value() / 100)
        if t is None:
            self.estimate.setText(f"No suggestion: {said}.")
            return
        self.tab.set_threshold(t)
        self.estimate.setText(f"Suggested {said}: Check this threshold to confirm it with labels.")

    def start_check(self) -> None:
        review = self.tab.review
        if review is None:
            return
        store = self.tab.window.store
        self.check = ThresholdCheck.draw(store, review.run, review.threshold, size=self.size.value())
        rows = review.check_rows(self.check)
        self.tab.model.set_review(review, rows, len(rows))
        if rows:
            self.tab.table.selectRow(0)
        self.back_button.show()
        self.tab.adapt_bar.back_button.hide()
        self.tab.count.setText(f"Checking threshold {self.check.threshold:.3f}: label these {len(rows)} pairs")
        self.update_estimate()

    def stop_check(self) -> None:
        self.back_button.hide()
        self.tab.set_threshold(self.tab.review.threshold)  # the ranked pairs again

    def update_estimate(self) -> None:
        if self.check is None or self.tab.window.store is None:
            return
        self.estimate.setText(self.check.estimate(self.tab.window.store).text())

    def run_changed(self) -> None:
        """A new run shown: its last check (if any) is picked up, not shown."""
        review = self.tab.review
        self.back_button.hide()
        self.check = ThresholdCheck.load(self.tab.window.store, review.run.id) if review else None
        self.estimate.setText(self.check.estimate(self.tab.window.store).text() if self.check else "")
