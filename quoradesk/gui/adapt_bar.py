"""The Review tab's learning tools: "Label next" lists the pairs whose label teaches the most
(core.adapt.suggest_pairs), labelled with the usual keys; "Improve from my labels" fine-tunes
the CrossEncoder on them on a worker (progress, Cancel), checks it on labels it did not see and,
when it is better, shows the latest run re-ranked by it. Nothing here decides anything: it
shows core.adapt's results."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox, QWidget

from ..core.adapt import ImproveJob, suggest_pairs
from ..core.store import Store
from .worker import GeneratorWorker, collect_everything


class AdaptBar(QWidget):
    def __init__(self, tab):
        super().__init__()
        self.tab = tab
        self.worker: GeneratorWorker | None = None  # the improvement, while it runs
        self.finder: GeneratorWorker | None = None  # the suggestions being found
        self._job: ImproveJob | None = None
        self._cancelled = False
        self.size = QSpinBox(minimum=5, maximum=200, value=20)
        self.size.setToolTip("How many pairs to suggest")
        self.next_button = QPushButton("Label next")
        self.next_button.setToolTip(
            "The pairs whose label teaches the most: most near where the model is least sure, some spread over "
            "the whole range, never two variants of one question, never a pair already labelled. Label them "
            "with A, R, U as usual.")
        self.next_button.clicked.connect(self.label_next)
        self.back_button = QPushButton("Back to all pairs")
        self.back_button.clicked.connect(lambda: self.tab.set_threshold(self.tab.review.threshold))
        self.back_button.hide()
        self.improve_button = QPushButton("Improve from my labels")
        self.improve_button.setToolTip(
            "Fine-tune the CrossEncoder on your accepted and rejected pairs (a few minutes on a CPU), check it on "
            "a quarter of them it did not see, and keep it only if it ranks them better: the latest run is then "
            "re-ranked with it (no re-encoding), and your next runs and Ask use it.")
        self.improve_button.clicked.connect(self.improve)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.cancel_button.hide()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for w in (self.next_button, self.size, self.back_button, self.improve_button, self.progress,
                  self.cancel_button):
            row.addWidget(w)
        row.addWidget(self.status, 1)

    @property
    def improving(self) -> bool:
        return self.worker is not None and self.worker.running

    def workers(self) -> list[GeneratorWorker]:
        return [w for w in (self.worker, self.finder) if w is not None]

    # ---------------------------------------------------------------- Label next

    def label_next(self) -> None:
        review, store = self.tab.review, self.tab.window.store
        if review is None or store is None or (self.finder is not None and self.finder.running):
            return
        path, run, n = store.path, review.run, self.size.value()

        def find():  # a large run's pairs are read and weighed off the UI thread
            with Store(path, create=False) as worker_store:
                return [(s.a, s.b) for s in suggest_pairs(worker_store, n, run=run)]

        self.next_button.setEnabled(False)
        self.finder = GeneratorWorker(find)
        self.finder.finished.connect(self._show_suggestions)
        self.finder.failed.connect(lambda message: (self.next_button.setEnabled(True),
                                                    self.status.setText(f"No suggestions: {message}")))
        self.finder.start()

    def _show_suggestions(self, keys) -> None:
        self.next_button.setEnabled(True)
        review = self.tab.review
        if review is None or self.tab.window.store is None:
            return
        rows = review.rows_for(keys or [])
        self.tab.model.set_review(review, rows, len(rows))
        self.tab.threshold_bar.back_button.hide()
        self.back_button.show()
        if rows:
            self.tab.table.selectRow(0)
            self.tab.count.setText(f"Label next: the {len(rows)} pairs whose label teaches the most "
                                   "(A accept, R reject, U unsure)")
        else:
            self.tab.count.setText("Nothing to suggest: every pair the list ranks is labelled")

    # ---------------------------------------------------------------- Improve

    def improve(self) -> None:
        store = self.tab.window.store
        if store is None or self.improving or self.tab.review is None:
            return
        path, run = store.path, self.tab.review.run
        self._cancelled = False

        def work():
            with Store(path, create=False) as worker_store:
                self._job = ImproveJob(worker_store, run=worker_store.get_run(run.id))
                if self._cancelled:
                    self._job.cancel()
                yield from self._job.run()
                return self._job.result

        self.improve_button.setEnabled(False)
        self.cancel_button.show()
        self.progress.show()
        self.progress.setRange(0, 0)
        self.status.setText("Improving from your labels…")
        self.worker = GeneratorWorker(work, cancel=self._request_cancel)
        self.worker.progress.connect(self._on_progress)
        self.worker.finished.connect(self._on_done)
        self.worker.failed.connect(self._on_failed)
        self.worker.start()

    def _request_cancel(self) -> None:
        self._cancelled = True
        if self._job is not None:
            self._job.cancel()

    def cancel(self) -> None:
        if self.worker is not None:
            self.status.setText("Cancelling: the project stays as it was…")
            self.worker.cancel()

    def _on_progress(self, ev) -> None:
        names = {"prepare": "Preparing", "train": "Fine-tuning", "check": "Checking on held-back labels",
                 "rerank": "Re-ranking the latest run"}
        if ev.stage in names:
            self.progress.setRange(0, max(ev.total, 1))
            self.progress.setValue(min(ev.done, max(ev.total, 1)))
            self.status.setText(f"{names[ev.stage]}… {ev.message}".rstrip())

    def _finish(self) -> None:
        self._job = None
        self.improve_button.setEnabled(True)
        self.cancel_button.hide()
        self.progress.hide()
        collect_everything()  # the training's model and optimizer (see worker.collect_everything)

    def _on_done(self, result) -> None:
        self._finish()
        if result is None:
            return
        self.status.setText(result.message)
        if result.accepted and result.run_id is not None and self.tab.window.store is not None:
            self.tab.load(result.run_id)  # the re-ranked run
            self.tab.window.ask_tab.run_finished()  # Ask now answers with the improved model

    def _on_failed(self, message: str) -> None:
        self._finish()
        self.status.setText(message)
